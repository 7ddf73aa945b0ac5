"""API tokens: each sign-in's own, listed without their keys, revoked one by one or all, and
refused once expired."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.services import api_token_create

pytestmark = pytest.mark.django_db

BALANCE = "/api/users/me/balance"


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _sign_in(password="pw-alice-123") -> str:
    response = APIClient().post(
        "/api/auth/token", {"username": "alice", "password": password}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response.json()["token"]


def test_the_list_shows_no_key_and_marks_the_callers_token(user, other_user):
    phone, laptop = _sign_in(), _sign_in()
    api_token_create(user=other_user)
    body = _client(laptop).get("/api/auth/tokens").json()
    assert body["count"] == 2
    assert {item["id"] for item in body["results"]} == {phone[:15], laptop[:15]}
    assert [item["current"] for item in body["results"]] == [True, False]  # newest first
    assert set(body["results"][0]) == {"id", "created", "expires", "current"}
    assert phone not in str(body) and laptop not in str(body)
    expires = timezone.datetime.fromisoformat(body["results"][0]["expires"])
    assert timedelta(days=6, hours=23) < expires - timezone.now() <= timedelta(days=7)


def test_signing_out_revokes_only_the_token_called_with(user):
    phone, laptop = _sign_in(), _sign_in()
    assert _client(phone).delete("/api/auth/token").status_code == 204
    response = _client(phone).get(BALANCE)
    assert (response.status_code, response.json()["code"]) == (401, "authentication_failed")
    assert _client(laptop).get(BALANCE).status_code == 200


def test_a_session_has_no_token_to_revoke(user):
    browser = APIClient()
    browser.force_login(user)
    assert browser.delete("/api/auth/token").status_code == 401
    assert browser.get("/api/auth/tokens").json()["count"] == 0  # the list answers it too


def test_one_token_is_revoked_by_its_id(user, other_user):
    phone, laptop = _sign_in(), _sign_in()
    theirs = api_token_create(user=other_user)
    response = _client(laptop).delete(f"/api/auth/tokens/{theirs[:15]}")
    assert (response.status_code, response.json()["code"]) == (404, "token_not_found")
    assert _client(theirs).get(BALANCE).status_code == 200  # another user's stays
    assert _client(laptop).delete(f"/api/auth/tokens/{phone[:15]}").status_code == 204
    assert _client(phone).get(BALANCE).status_code == 401
    assert _client(laptop).get(BALANCE).status_code == 200
    assert _client(laptop).delete(f"/api/auth/tokens/{phone[:15]}").status_code == 404


def test_revoking_all_signs_every_device_out(user, other_user):
    keys = [_sign_in() for _ in range(3)]
    theirs = api_token_create(user=other_user)
    assert _client(keys[0]).delete("/api/auth/tokens").status_code == 204
    assert [_client(key).get(BALANCE).status_code for key in keys] == [401] * 3
    assert _client(theirs).get(BALANCE).status_code == 200


def test_an_expired_token_is_refused_like_a_bad_one(user):
    token, key = AuthToken.objects.create(user)
    AuthToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    response = _client(key).get(BALANCE)
    assert (response.status_code, response.json()["code"]) == (401, "authentication_failed")
    assert response.json() == _client("f" * 64).get(BALANCE).json()


def test_a_cached_token_is_refused_once_it_expires(user, settings):
    settings.API_TOKEN_SECONDS = 1
    key = _sign_in()  # cached at once
    assert _client(key).get(BALANCE).status_code == 200
    time.sleep(1.1)
    assert _client(key).get(BALANCE).status_code == 401


def test_expired_rows_go_when_their_owner_signs_in_again(user):
    token, _ = AuthToken.objects.create(user)
    AuthToken.objects.filter(pk=token.pk).update(expiry=timezone.now())
    _sign_in()
    assert not AuthToken.objects.filter(pk=token.pk).exists()
    assert AuthToken.objects.filter(user=user).count() == 1


@pytest.mark.parametrize("token_id", ["%00abc", "not-an-id", "%C3%A9"])
def test_revoking_a_malformed_id_is_token_not_found(user, token_id):
    response = _client(api_token_create(user=user)).delete(f"/api/auth/tokens/{token_id}")
    assert response.status_code == 404 and response.json()["code"] == "token_not_found"
