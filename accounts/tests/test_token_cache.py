"""API token callers through the one cache: a repeat call reads no database, a change is never
undone by a reader that loaded the row before it, and a cache outage leaves the database to answer.

Real commits (transaction=True), so the invalidation's on-commit half runs as in production.
"""

import threading
import time

import pytest
from django.contrib.auth.models import update_last_login
from django.core.cache import cache
from django.db import connection
from django_redis import get_redis_connection
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts import authentication, selectors
from accounts.selectors import token_with_user
from concertbooking.redis import make_client
from queueing.testing import admit

pytestmark = pytest.mark.django_db(transaction=True)

BALANCE = "/api/users/me/balance"


@pytest.fixture
def token(user) -> str:
    """An API token's key (the row is knox's, not yet cached)."""
    _, key = AuthToken.objects.create(user=user)
    return key


def _revoke(key: str) -> None:
    AuthToken.objects.filter(digest=hash_token(key)).delete()


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _cached(key: str):
    return cache.get(selectors._token_key(hash_token(key)))


def test_a_cached_token_costs_no_query(user, token, django_assert_num_queries):
    with django_assert_num_queries(1):  # the token with its user, then kept
        assert token_with_user(token).user.pk == user.pk
    with django_assert_num_queries(0):
        found = token_with_user(token)
    assert (found.digest, found.user.username, found.user.is_active) == (
        hash_token(token),
        "alice",
        True,
    )
    assert found.user.check_password("pw-alice-123")  # the whole row, as the ORM loads it


def test_a_handed_out_token_is_cached_so_the_first_call_costs_no_query(
    user, django_assert_num_queries
):
    from django.test import RequestFactory

    from accounts.services import api_tokens_issue, token_obtain

    key = token_obtain(
        username="alice", password="pw-alice-123", request=RequestFactory().post("/")
    )
    with django_assert_num_queries(0):
        assert token_with_user(key).user.pk == user.pk
    cache.clear()
    (bulk_key,) = api_tokens_issue(usernames=["alice"]).values()
    assert bulk_key != key  # a new one; only digests are stored
    with django_assert_num_queries(0):
        assert token_with_user(bulk_key).user.pk == user.pk


def test_handing_out_a_token_never_undoes_a_change(user, token):
    from accounts.services import api_tokens_issue

    user.is_active = False
    user.save()  # leaves its tombstones
    api_tokens_issue(usernames=["alice"])
    assert token_with_user(token) is None


def test_the_gate_and_drfs_authentication_look_a_key_up_once(user, token, monkeypatch):
    calls = []

    def counted(key):
        calls.append(key)
        return token_with_user(key)

    monkeypatch.setattr(authentication, "token_with_user", counted)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}", HTTP_QUEUE_TOKEN=admit(user))
    response = client.get("/api/concerts/999/available-dates")  # gated, then DRF's view
    assert response.status_code == 404  # through the gate and authenticated: no such concert
    assert calls == [token]


def _deactivate(user, token=None):
    user.is_active = False
    user.save()


CHANGES = {
    "revoked": lambda user, token: _revoke(token),
    "deactivated": _deactivate,
    "deleted": lambda user, token: user.delete(),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_change_refuses_the_very_next_call(user, token, change):
    client = _client(token)
    assert client.get(BALANCE).status_code == 200
    assert _cached(token) is not None  # the next call would be answered from here

    change(user, token)

    response = client.get(BALANCE)
    assert (response.status_code, response.json()["code"]) == (401, "authentication_failed")


def test_a_new_password_revokes_the_token_at_once(user, token):
    assert token_with_user(token).user.check_password("pw-alice-123")
    user.set_password("a-new-password-123")
    user.save()
    assert token_with_user(token) is None


def test_a_sign_ins_timestamp_keeps_the_entry(user, token, django_assert_num_queries):
    token_with_user(token)
    update_last_login(None, user)  # what every sign-in saves
    with django_assert_num_queries(0):
        assert token_with_user(token).user.pk == user.pk


def _a_reader_loads_the_row_then_the_user_is_deactivated(monkeypatch, user):
    """The next lookup reads the database, and the user is deactivated (committed) before that
    lookup fills the cache with what it read."""
    load = selectors._active_token

    def load_then_change(key):
        loaded = load(key)
        _deactivate(user)
        return loaded

    monkeypatch.setattr(selectors, "_active_token", load_then_change)


def test_a_reader_that_loaded_the_row_before_a_change_cannot_keep_it(user, token, monkeypatch):
    _a_reader_loads_the_row_then_the_user_is_deactivated(monkeypatch, user)
    assert token_with_user(token) is not None  # it answers with what it read...
    monkeypatch.undo()
    assert token_with_user(token) is None  # ...but kept nothing: the next call is refused


def test_control_without_tombstones_the_stale_row_comes_back(user, token, monkeypatch):
    """The same interleaving, with a change that only deletes the entries: the reader's fill
    lands after the delete and the deactivated user is accepted from the cache."""
    monkeypatch.setattr(cache, "set_many", lambda entries, timeout: cache.delete_many(entries))
    _a_reader_loads_the_row_then_the_user_is_deactivated(monkeypatch, user)
    assert token_with_user(token) is not None
    assert token_with_user(token) is not None  # the bug the tombstone prevents


def test_a_cache_that_is_down_leaves_the_database_to_answer(user, token, settings):
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    client = _client(token)
    assert client.get(BALANCE).status_code == 200
    _deactivate(user)
    assert client.get(BALANCE).status_code == 401
    assert not make_client(settings.REDIS_URL).keys("*caller*")  # the cache was really away


def test_keys_are_not_stored_in_the_clear(token):
    token_with_user(token)
    names = [name.decode() for name in get_redis_connection("default").keys("*caller*")]
    assert len(names) == 1 and token not in names[0]


def test_no_call_that_starts_after_a_revocation_commits_is_accepted(token):
    """Eight threads authenticate as fast as they can, through the cache, while the token is
    revoked: every call that starts once the delete has committed is refused."""
    results: list[tuple[float, bool]] = []
    stop = threading.Event()

    def hammer():
        try:
            while not stop.is_set():
                started = time.monotonic()
                results.append((started, token_with_user(token) is not None))
        finally:
            connection.close()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    _revoke(token)  # one committed statement, then its signals
    revoked_at = time.monotonic()
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()

    before = [ok for started, ok in results if started < revoked_at - 0.05]
    after = [ok for started, ok in results if started > revoked_at]
    assert before and all(before)
    assert after and not any(after)


def test_a_token_edited_in_the_console_drops_its_entry(user, token):
    """Knox's console edits a token's expiry (or owner): its save drops the entry as a delete."""
    from datetime import timedelta

    from django.utils import timezone

    assert _client(token).get("/api/users/me/balance").status_code == 200  # now cached
    row = AuthToken.objects.get(digest=hash_token(token))
    row.expiry = timezone.now() - timedelta(seconds=1)
    row.save()
    assert _client(token).get("/api/users/me/balance").status_code == 401
