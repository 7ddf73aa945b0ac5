"""A signed-in browser's calls: its session read from the cache server, its user remembered by
this worker (accounts.sessions, accounts.backends), against the real PostgreSQL and Redis."""

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts import backends, sessions
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
    assert poll(client, token).status_code == 200  # this worker meets the user
    with django_assert_num_queries(0):
        response = poll(client, token)
    assert response.status_code == 200
    assert response.json()["status"] == "waiting"


def test_every_session_is_kept_in_postgresql_too(waiting, django_assert_num_queries):
    client, token = waiting
    assert poll(client, token).status_code == 200  # this worker meets the user
    cache.delete(session_cache_key(client))  # a flushed or restarted cache server

    with django_assert_num_queries(1):  # the session row (the user is remembered)
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


def test_a_change_this_worker_makes_reaches_its_memory_at_once(user, waiting):
    client, token = waiting
    assert poll(client, token).status_code == 200

    user.is_active = False
    user.save()
    assert poll(client, token).status_code == 401

    user.is_active = True
    user.save()
    assert poll(client, token).status_code == 200
    user.set_password("a-new-password-123")  # signs every session out (its hash changes)
    user.save()
    assert poll(client, token).status_code == 401


def test_a_sign_ins_timestamp_keeps_the_user_remembered(user, waiting, django_assert_num_queries):
    client, token = waiting
    assert poll(client, token).status_code == 200
    user.save(update_fields=["last_login"])
    with django_assert_num_queries(0):
        assert poll(client, token).status_code == 200


def test_another_workers_change_arrives_within_the_memorys_lifetime(user, waiting):
    """A change this process does not see (another worker's, or one that bypasses signals) is
    read once the remembered row's time is up."""
    client, token = waiting
    assert poll(client, token).status_code == 200
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)  # no signal here

    assert poll(client, token).status_code == 200  # remembered, as documented
    remembered, _ = backends._users[user.pk]
    backends._users[user.pk] = (remembered, 0.0)  # its time is up
    assert poll(client, token).status_code == 401


def test_no_memory_when_its_lifetime_is_zero(settings, waiting, django_assert_num_queries):
    settings.API_TOKEN_CACHE_SECONDS = 0
    client, token = waiting
    for _ in range(2):
        with django_assert_num_queries(1):  # the user, every time
            assert poll(client, token).status_code == 200


def test_each_request_gets_its_own_copy_of_the_user(user):
    backend = backends.RememberingModelBackend()
    first = backend.get_user(user.pk)
    first.note = "set by one request"
    second = backend.get_user(user.pk)
    assert second is not first and not hasattr(second, "note")
    assert second.pk == user.pk and second.check_password("pw-alice-123")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL built once is PostgreSQL's")
def test_a_users_load_matches_the_orms(user, django_assert_num_queries):
    user.email, user.first_name, user.is_staff = "alice@example.com", "Alice", True
    user.save()
    expected = get_user_model()._default_manager.get(pk=user.pk)

    with django_assert_num_queries(1):
        loaded = backends.RememberingModelBackend().get_user(user.pk)

    for field in get_user_model()._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    assert not loaded._state.adding and loaded._state.db == "default"
    assert backends.RememberingModelBackend().get_user(user.pk + 1_000) is None


def remembered_as_another_worker_saw_it(user) -> None:
    """This worker's memory holds the row as it was before a change made elsewhere."""
    backends._users[user.pk] = (get_user_model().objects.get(pk=user.pk), float("inf"))


def test_a_new_password_set_elsewhere_keeps_its_own_session_signed_in(user, waiting):
    """The password changed through another worker, which kept that browser's session signed in
    with the new hash: this worker's remembered row disagrees with the session, and is read
    again rather than signing the browser out."""
    client, token = waiting
    remembered_as_another_worker_saw_it(user)
    changed = get_user_model().objects.get(pk=user.pk)
    changed.set_password("a-new-password-123")
    get_user_model().objects.filter(pk=user.pk).update(password=changed.password)  # no signal
    session = client.session
    session["_auth_user_hash"] = changed.get_session_auth_hash()  # update_session_auth_hash
    session.save()

    assert poll(client, token).status_code == 200
    assert poll(client, token).status_code == 200


def test_a_write_never_sees_a_remembered_row(user):
    """A request that may change something reads the row: the password change form, which
    saves request.user whole, never writes back a row another worker has since changed."""
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    remembered_as_another_worker_saw_it(user)
    get_user_model().objects.filter(pk=user.pk).update(first_name="Changed")  # elsewhere

    response = client.post(
        reverse("admin:password_change"),
        {
            "old_password": "pw-alice-123",
            "new_password1": "a-new-password-123",
            "new_password2": "a-new-password-123",
        },
    )

    assert response.status_code == 302
    saved = get_user_model().objects.get(pk=user.pk)
    assert saved.first_name == "Changed" and saved.check_password("a-new-password-123")


def test_sessions_signed_in_under_djangos_own_backend_stay_signed_in(user):
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    assert client.session[BACKEND_SESSION_KEY] == "django.contrib.auth.backends.ModelBackend"
    token = queue_token_issue(user_id=user.pk).token

    assert poll(client, token).status_code == 200
    assert client.session[BACKEND_SESSION_KEY] == "accounts.backends.RememberingModelBackend"
    assert poll(client, token).status_code == 200
