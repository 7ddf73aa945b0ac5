"""Changing the password, on the page and through the API: one service, which revokes every
API token; the browser that changes it stays signed in, the user's other browsers do not."""

import pytest
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.services import api_token_create

pytestmark = pytest.mark.django_db

NEW = "a-much-better-passphrase-42"
BALANCE = "/api/users/me/balance"


def _token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _browser(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_the_api_changes_the_password_and_hands_back_the_only_token(user):
    old_keys = [api_token_create(user=user) for _ in range(2)]
    response = _token_client(old_keys[0]).post(
        "/api/auth/password", {"old_password": "pw-alice-123", "new_password": NEW}, format="json"
    )
    assert response.status_code == 200
    fresh = response.json()["token"]
    assert [_token_client(key).get(BALANCE).status_code for key in old_keys] == [401, 401]
    assert _token_client(fresh).get(BALANCE).status_code == 200
    assert AuthToken.objects.filter(user=user).count() == 1
    user.refresh_from_db()
    assert user.check_password(NEW)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"old_password": "wrong", "new_password": NEW}, "password_incorrect"),
        ({"old_password": "pw-alice-123", "new_password": "123"}, "password_invalid"),
        ({"old_password": "pw-alice-123", "new_password": "alice"}, "password_invalid"),
        ({"old_password": "pw-alice-123"}, "invalid"),
    ],
)
def test_a_refused_change_is_400_and_changes_nothing(user, body, code):
    key = api_token_create(user=user)
    before = user.password
    response = _token_client(key).post("/api/auth/password", body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert response.json()["detail"]
    user.refresh_from_db()
    assert user.password == before
    assert _token_client(key).get(BALANCE).status_code == 200


def test_the_api_needs_a_caller(user):
    response = APIClient().post(
        "/api/auth/password", {"old_password": "pw-alice-123", "new_password": NEW}, format="json"
    )
    assert response.status_code == 401


def test_a_session_caller_of_the_api_stays_signed_in_and_others_are_signed_out(user):
    caller, other = APIClient(), _browser(user)
    caller.force_login(user)
    response = caller.post(
        "/api/auth/password", {"old_password": "pw-alice-123", "new_password": NEW}, format="json"
    )
    assert response.status_code == 200
    assert caller.get(BALANCE).status_code == 200
    assert other.get("/tickets/").status_code == 302  # to the sign-in page


def test_the_page_changes_the_password_keeps_this_browser_and_signs_out_the_rest(user):
    key = api_token_create(user=user)
    browser, other = _browser(user), _browser(user)
    page = browser.get("/accounts/password/")
    assert page.status_code == 200 and b"Current password" in page.content
    response = browser.post(
        "/accounts/password/",
        {"old_password": "pw-alice-123", "new_password1": NEW, "new_password2": NEW},
        follow=True,
    )
    assert b"Your password is changed" in response.content
    assert browser.get("/tickets/").status_code == 200
    assert other.get("/tickets/").status_code == 302
    assert _token_client(key).get(BALANCE).status_code == 401
    user.refresh_from_db()
    assert user.check_password(NEW)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"old_password": "wrong", "new_password1": NEW, "new_password2": NEW}, b"not correct"),
        ({"old_password": "pw-alice-123", "new_password1": NEW, "new_password2": "x"}, b"differ"),
        ({"old_password": "pw-alice-123", "new_password1": "1", "new_password2": "1"}, b"short"),
    ],
)
def test_the_page_explains_a_refusal_and_changes_nothing(user, fields, message):
    browser = _browser(user)
    before = user.password
    response = browser.post("/accounts/password/", fields)
    assert response.status_code == 200 and message in response.content
    user.refresh_from_db()
    assert user.password == before


def test_the_page_asks_a_visitor_to_sign_in(client):
    response = client.get("/accounts/password/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
