"""Repeated wrong passwords lock sign-in for one account from one address, on the API and the
page alike; the right password is refused during the lockout, a success clears the count."""

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token"
LOGIN = "/accounts/login/"
RIGHT = "pw-alice-123"


def _api(password, *, username="alice", ip="10.0.0.1"):
    return APIClient(REMOTE_ADDR=ip).post(
        TOKEN, {"username": username, "password": password}, format="json"
    )


def _page(password, *, username="alice", ip="10.0.0.1"):
    return Client(REMOTE_ADDR=ip).post(LOGIN, {"username": username, "password": password})


def test_a_brute_force_run_on_the_api_is_locked_out(user, settings):
    codes = [_api(f"guess-{i}").json()["code"] for i in range(settings.LOGIN_FAILURE_LIMIT)]
    assert codes[:-1] == ["invalid_credentials"] * (settings.LOGIN_FAILURE_LIMIT - 1)
    assert codes[-1] == "locked_out"  # the attempt that reaches the limit
    for password in ("guess-x", RIGHT):  # the right one too
        response = _api(password)
        assert (response.status_code, response.json()["code"]) == (429, "locked_out")
        assert response["Retry-After"] == str(settings.LOGIN_LOCKOUT_SECONDS)
    assert not user.auth_token_set.exists()  # no token was handed out


def test_a_brute_force_run_on_the_page_is_locked_out_and_says_so(user, settings):
    for i in range(settings.LOGIN_FAILURE_LIMIT + 3):
        response = _page(f"guess-{i}")
    response = _page(RIGHT)
    assert response.status_code == 429
    text = response.content.decode()
    assert "locked for 15 minutes" in text and "from your address" in text
    assert "_auth_user_id" not in Client().session  # not signed in


def test_the_page_and_the_api_count_together(user, settings):
    for i in range(settings.LOGIN_FAILURE_LIMIT):
        (_page if i % 2 else _api)(f"guess-{i}")
    assert _api(RIGHT).status_code == 429
    assert _page(RIGHT).status_code == 429


def test_another_address_or_another_account_is_not_locked(user, other_user, settings):
    for i in range(settings.LOGIN_FAILURE_LIMIT):
        _api(f"guess-{i}")
    assert _api(RIGHT).status_code == 429
    assert _api(RIGHT, ip="10.0.0.2").status_code == 200
    assert _api("pw-bob-123", username="bob").status_code == 200
    assert _page("pw-bob-123", username="bob").status_code == 302


def test_a_success_clears_the_count(user, settings):
    for _ in range(2):
        for i in range(settings.LOGIN_FAILURE_LIMIT - 1):
            assert _api(f"guess-{i}").status_code == 400
        assert _api(RIGHT).status_code == 200
    assert not AccessAttempt.objects.exists()


def test_the_lockout_ends(user, settings):
    for i in range(settings.LOGIN_FAILURE_LIMIT):
        _api(f"guess-{i}")
    assert _api(RIGHT).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time.replace(year=2000)
    )
    assert _api(RIGHT).status_code == 200


def test_the_client_address_rule_is_the_one_behind_a_proxy(user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for i in range(settings.LOGIN_FAILURE_LIMIT):
        APIClient(REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="1.1.1.1").post(
            TOKEN, {"username": "alice", "password": f"guess-{i}"}, format="json"
        )
    locked = APIClient(REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="1.1.1.1")
    other = APIClient(REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="2.2.2.2")
    body = {"username": "alice", "password": RIGHT}
    assert locked.post(TOKEN, body, format="json").status_code == 429
    assert other.post(TOKEN, body, format="json").status_code == 200


def test_an_operator_sees_the_lockout_and_lifts_it(user, settings, django_user_model):
    for i in range(settings.LOGIN_FAILURE_LIMIT):
        _api(f"guess-{i}")
    operator = Client()
    operator.force_login(django_user_model.objects.create_superuser("op", password="op-pass-123"))
    listing = operator.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    attempt = AccessAttempt.objects.get()
    operator.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert _api(RIGHT).status_code == 200


def test_guesses_of_the_current_password_count_towards_the_lockout(user, settings):
    """A stolen token or session must not guess the password freely to take the account over."""
    from accounts.services import api_token_create

    client = APIClient(REMOTE_ADDR="10.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)}")

    def change(old):
        return client.post(
            "/api/auth/password",
            {"old_password": old, "new_password": "Zq8!long-enough"},
            format="json",
        )

    codes = [change(f"guess-{i}").json()["code"] for i in range(settings.LOGIN_FAILURE_LIMIT)]
    assert codes[0] == "password_incorrect" and codes[-1] == "locked_out"
    refused = change(RIGHT)
    assert refused.status_code == 429 and refused.json()["code"] == "locked_out"
    user.refresh_from_db()
    assert user.check_password(RIGHT)
    assert _api(RIGHT).json()["code"] == "locked_out"  # one count with sign-in
