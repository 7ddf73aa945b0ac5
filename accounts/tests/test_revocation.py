"""A new password or a deactivation revokes the user's API tokens, whoever saves the user."""

import pytest
from django.conf import settings
from django.contrib.auth.models import update_last_login
from knox.models import AuthToken

from accounts.services import api_token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def tokens(user, other_user):
    for owner in (user, user, other_user):
        api_token_create(user=owner)


def _left(user) -> int:
    return AuthToken.objects.filter(user=user).count()


def _new_password(user):
    user.set_password("a-new-password-123")
    user.save()


def _deactivate(user):
    user.is_active = False
    user.save(update_fields=["is_active"])


def _admin_deactivates(user):
    from django.contrib.admin import site
    from django.contrib.auth import get_user_model

    admin_model = site._registry[get_user_model()]
    user.is_active = False
    admin_model.save_model(None, user, None, change=True)


@pytest.mark.parametrize("change", [_new_password, _deactivate, _admin_deactivates])
def test_a_change_revokes_every_token_of_the_user(user, other_user, tokens, change):
    change(user)
    assert _left(user) == 0
    assert _left(other_user) == 1


def _sign_in_timestamp(user):
    update_last_login(None, user)


def _new_email(user):
    user.email = "alice@example.com"
    user.save()


def _hash_upgraded_at_sign_in(user):
    from django.contrib.auth import authenticate
    from django.test import RequestFactory, override_settings

    hashers = ["django.contrib.auth.hashers.PBKDF2PasswordHasher", *settings.PASSWORD_HASHERS]
    with override_settings(PASSWORD_HASHERS=hashers):
        request = RequestFactory().post("/")
        assert authenticate(request, username="alice", password="pw-alice-123") is not None
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_sha256$")  # rehashed and saved


@pytest.mark.parametrize("change", [_sign_in_timestamp, _new_email, _hash_upgraded_at_sign_in])
def test_other_saves_keep_the_tokens(user, tokens, change):
    change(user)
    assert _left(user) == 2


@pytest.mark.django_db(transaction=True)
def test_a_sign_in_that_hashed_the_old_password_gets_no_token_past_a_change(user, monkeypatch):
    """A password change that commits while a sign-in hashes the old password: the sign-in
    is refused rather than handed a token the change never saw."""
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from accounts import services

    real = services.authenticate

    def authenticate_then_the_owner_changes_it(request, **credentials):
        found = real(request, **credentials)
        _new_password(get_user_model().objects.get(pk=user.pk))  # another worker, committed
        return found

    monkeypatch.setattr(services, "authenticate", authenticate_then_the_owner_changes_it)
    response = APIClient().post(
        "/api/auth/token", {"username": "alice", "password": "pw-alice-123"}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_credentials"
    assert _left(user) == 0
