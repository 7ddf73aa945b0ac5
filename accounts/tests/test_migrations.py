"""Tokens handed out before tokens expired keep working after the deploy that brings expiry."""

import importlib

import pytest
from django.apps import apps
from django.db import connection
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

tokens_copy = importlib.import_module("accounts.migrations.0001_api_tokens_from_drf").tokens_copy


def test_an_old_token_still_authenticates_and_now_expires(user, settings):
    old_key = "0123456789abcdef0123456789abcdef01234567"  # DRF's 40 hex characters
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, user_id bigint, "
            "created timestamptz)"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, now())", [old_key, user.pk])
    with connection.schema_editor() as editor:
        tokens_copy(apps, editor)
        tokens_copy(apps, editor)  # run twice: no duplicate, no error

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old_key}")
    assert client.get("/api/users/me/balance").status_code == 200
    (listed,) = client.get("/api/auth/tokens").json()["results"]
    assert listed["id"] == old_key[:15] and listed["current"] is True


def test_a_database_without_old_tokens_is_left_alone():
    with connection.schema_editor() as editor:
        tokens_copy(apps, editor)
