"""A signed-in browser's calls: its session and its user read from the cache server
(accounts.sessions, accounts.backends), against the real PostgreSQL and Redis."""

import pytest
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.urls import reverse

from accounts import selectors, sessions
from queueing.services import queue_token_issue
from queueing.testing import page_client

pytestmark = pytest.mark.django_db

STATUS = "/api/queue/tokens/current"


@pytest.fixture
def waiting(user):
    """A signed-in browser whose user waits in the queue: (client, queue token)."""
    client = page_client(user, admitted=False)
    return client, queue_token_issue(user_id=user.pk).token


def poll(client, token):
    """The waiting room's poll, as its script sends it (static/js/waiting-room.js)."""
    return client.get(STATUS, HTTP_QUEUE_TOKEN=token, HTTP_ACCEPT="application/json")


def session_cache_key(client) -> str:
    return sessions.SessionStore.cache_key_prefix + client.session.session_key


def test_a_waiting_browsers_poll_costs_no_query(waiting, django_assert_num_queries):
    client, token = waiting
    assert poll(client, token).status_code == 200  # the user is read, then cached
    with django_assert_num_queries(0):
        response = poll(client, token)
    assert response.status_code == 200
    assert response.json()["status"] == "waiting"


def test_every_session_is_kept_in_postgresql_too(waiting, django_assert_num_queries):
    client, token = waiting
    assert poll(client, token).status_code == 200  # the user is read, then cached
    cache.delete(session_cache_key(client))  # a flushed or restarted cache server

    with django_assert_num_queries(1):  # the session row (the user is cached)
        assert poll(client, token).status_code == 200
    with django_assert_num_queries(0):  # and the cache holds it again
        assert poll(client, token).status_code == 200


def test_the_cached_copy_lives_at_most_ten_minutes(waiting):
    client, _ = waiting
    assert client.session.get_expiry_age() > sessions.CACHED_SECONDS  # the cookie lives longer
    assert 0 < cache.ttl(session_cache_key(client)) <= sessions.CACHED_SECONDS


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(waiting, client):
    browser, token = waiting
    name = settings.SESSION_COOKIE_NAME
    client.cookies[name] = browser.cookies[name].value  # the same cookie, elsewhere
    assert poll(client, token).status_code == 200
    cached = session_cache_key(browser)

    browser.post(reverse("logout"))

    assert poll(client, token).status_code == 401
    assert cache.get(cached) is None


def test_a_change_refuses_the_very_next_call(user, waiting):
    client, token = waiting
    assert poll(client, token).status_code == 200
    assert cache.get(selectors._user_key(user.pk)) is not None  # the next poll would read this

    user.is_active = False
    user.save()
    assert poll(client, token).status_code == 401

    user.is_active = True
    user.save()
    assert poll(client, token).status_code == 200
    user.set_password("a-new-password-123")  # signs every session out (its hash changes)
    user.save()
    assert poll(client, token).status_code == 401


def test_a_deleted_user_is_signed_out(user, waiting):
    client, token = waiting
    assert poll(client, token).status_code == 200
    user.delete()
    assert poll(client, token).status_code == 401


def test_a_sign_ins_timestamp_keeps_the_user_cached(user, waiting, django_assert_num_queries):
    client, token = waiting
    assert poll(client, token).status_code == 200
    user.save(update_fields=["last_login"])
    with django_assert_num_queries(0):
        assert poll(client, token).status_code == 200


def test_a_change_that_bypasses_signals_is_read_within_the_entrys_lifetime(user, waiting, settings):
    client, token = waiting
    assert poll(client, token).status_code == 200
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)  # no signal here

    assert poll(client, token).status_code == 200  # cached, as documented
    assert 0 < cache.ttl(selectors._user_key(user.pk)) <= settings.CALLER_CACHE_SECONDS
    cache.delete(selectors._user_key(user.pk))  # its time is up
    assert poll(client, token).status_code == 401


def test_no_caching_when_its_lifetime_is_zero(settings, waiting, django_assert_num_queries):
    settings.CALLER_CACHE_SECONDS = 0
    client, token = waiting
    for _ in range(2):
        with django_assert_num_queries(1):  # the user, every time
            assert poll(client, token).status_code == 200


def test_a_reader_that_loaded_the_user_before_a_change_cannot_keep_it(user, waiting, monkeypatch):
    client, token = waiting
    load = ModelBackend.get_user

    def load_then_change(backend, user_id):
        loaded = load(backend, user_id)
        user.is_active = False
        user.save()
        return loaded

    monkeypatch.setattr(ModelBackend, "get_user", load_then_change)
    assert poll(client, token).status_code == 200  # it answers with what it read...
    monkeypatch.undo()
    assert poll(client, token).status_code == 401  # ...but kept nothing


def test_a_new_password_keeps_the_session_that_set_it_signed_in(user, waiting):
    """update_session_auth_hash: the session carries the new hash, which the next poll's
    user (read again after the change) agrees with."""
    client, token = waiting
    assert poll(client, token).status_code == 200
    user.set_password("a-new-password-123")
    user.save()
    session = client.session
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()

    assert poll(client, token).status_code == 200
    assert poll(client, token).status_code == 200


def test_a_cache_that_is_down_leaves_the_database_to_answer(user, waiting, settings):
    client, token = waiting
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    assert poll(client, token).status_code == 200
    user.is_active = False
    user.save()
    assert poll(client, token).status_code == 401
