"""API tokens shared through Redis: a sign-in warms every worker, and a change is never undone.

Real PostgreSQL and Redis with real commits (transaction=True), so the write-through and the
tombstones run on commit as in production.
"""

import threading
import time

import pytest
from django_redis import get_redis_connection
from rest_framework.authtoken.models import Token

from accounts import authentication
from accounts.authentication import token_user
from accounts.services import api_tokens_issue, token_obtain

pytestmark = pytest.mark.django_db(transaction=True)


def _new_process():
    """What another worker sees: nothing remembered in this process."""
    authentication._entries.clear()


def test_a_sign_in_is_shared_so_other_workers_need_no_query(user, django_assert_num_queries):
    key = token_obtain(username="alice", password="pw-alice-123")
    _new_process()
    with django_assert_num_queries(0):
        found, token = token_user(key)
    assert (found.pk, found.username, token.key) == (user.pk, "alice", key)
    assert found.email == user.email and found.is_active  # the row, as the ORM loads it


def test_tokens_issued_in_bulk_are_shared(user, other_user, django_assert_num_queries):
    keys = api_tokens_issue(usernames=["alice", "bob"])
    _new_process()
    with django_assert_num_queries(0):
        assert token_user(keys["bob"])[0].pk == other_user.pk


def test_a_first_lookup_from_the_database_is_shared(user, django_assert_num_queries):
    token = Token.objects.create(user=user)
    with django_assert_num_queries(1):
        assert token_user(token.key)[0].pk == user.pk
    _new_process()
    with django_assert_num_queries(0):
        assert token_user(token.key)[0].pk == user.pk


def test_revoking_a_token_reaches_every_worker(user):
    key = token_obtain(username="alice", password="pw-alice-123")
    Token.objects.get(key=key).delete()
    _new_process()
    assert token_user(key) is None


def test_a_deactivated_user_is_refused_everywhere(user):
    key = token_obtain(username="alice", password="pw-alice-123")
    user.is_active = False
    user.save()
    _new_process()
    assert token_user(key) is None


def test_a_reader_that_loaded_the_row_before_a_change_cannot_share_it(user):
    token = Token.objects.create(user=user)
    stale = authentication._token_with_user(token.key)  # loaded before the change...
    user.is_active = False
    user.save()  # ...which commits and leaves tombstones
    authentication.tokens_share([stale])  # ...then shared: refused
    _new_process()
    assert token_user(token.key) is None


def test_control_a_plain_write_would_bring_the_old_row_back(user):
    """Without the tombstone check, the same race shares the deactivated user as active."""
    token = Token.objects.create(user=user)
    stale = authentication._token_with_user(token.key)
    user.is_active = False
    user.save()
    get_redis_connection("default").set(  # what a naive cache write would do
        authentication._shared_key(token.key), authentication._payload(stale), ex=600
    )
    _new_process()
    assert token_user(token.key) is not None  # the bug the tombstone check prevents


def test_a_first_sign_in_racing_a_deactivation_shares_nothing(user, django_user_model):
    """The sign-in loaded the user before the deactivation committed, and its token did not exist
    yet, so no token tombstone could name it: the user's own tombstone refuses the share."""
    signing_in = django_user_model.objects.get(pk=user.pk)  # authenticate() read the row
    user.is_active = False
    user.save()  # commits: no token to tombstone yet
    token = Token.objects.create(user=signing_in)  # the sign-in's token commits after
    authentication.tokens_share([token])  # and its after-commit share
    _new_process()
    assert token_user(token.key) is None


def test_a_sign_in_timestamp_leaves_the_shared_entry_alone(user, django_assert_num_queries):
    from django.contrib.auth.models import update_last_login

    key = token_obtain(username="alice", password="pw-alice-123")
    update_last_login(None, user)  # what every page sign-in saves
    _new_process()
    with django_assert_num_queries(0):
        assert token_user(key)[0].pk == user.pk


def test_the_password_hash_is_not_shared(user, django_assert_num_queries):
    key = token_obtain(username="alice", password="pw-alice-123")
    stored = get_redis_connection("default").get(authentication._shared_key(key))
    assert stored and user.password.encode() not in stored
    _new_process()
    with django_assert_num_queries(0):
        found, _ = token_user(key)
    with django_assert_num_queries(1):  # deferred: loaded if anything ever asks
        assert found.check_password("pw-alice-123")


@pytest.mark.parametrize("garbage", [b"not a pickle", b"\x80\x05K\x01."], ids=["bytes", "int"])
def test_an_unreadable_entry_falls_back_to_the_database(user, garbage, django_assert_num_queries):
    token = Token.objects.create(user=user)
    get_redis_connection("default").set(authentication._shared_key(token.key), garbage)
    with django_assert_num_queries(1):
        assert token_user(token.key)[0].pk == user.pk


def test_redis_down_falls_back_to_the_database(user, django_assert_num_queries):
    token = Token.objects.create(user=user)
    connection = get_redis_connection("default")
    original = connection.connection_pool
    connection.connection_pool = type(original).from_url("redis://127.0.0.1:1/0")
    try:
        with django_assert_num_queries(1):
            assert token_user(token.key)[0].pk == user.pk
    finally:
        connection.connection_pool = original


def test_keys_are_not_stored_in_the_clear(user):
    key = token_obtain(username="alice", password="pw-alice-123")
    stored = [name.decode() for name in get_redis_connection("default").keys("*apitoken*")]
    assert len(stored) == 1 and key not in stored[0]


def test_no_worker_accepts_a_token_after_its_revocation_commits(user, settings):
    """Eight threads authenticate as fast as they can (no per-process memory, so every call reads
    Redis or PostgreSQL) while the token is revoked; once the delete has committed, every call
    that starts afterwards is refused."""
    settings.API_TOKEN_CACHE_SECONDS = 0
    key = token_obtain(username="alice", password="pw-alice-123")
    from django.db import connection as db

    results: list[tuple[float, bool]] = []
    stop = threading.Event()

    def hammer():
        try:
            while not stop.is_set():
                started = time.monotonic()
                results.append((started, token_user(key) is not None))
        finally:
            db.close()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    Token.objects.filter(key=key).delete()  # one committed statement; signals run on commit
    revoked_at = time.monotonic()
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()

    before = [ok for started, ok in results if started < revoked_at - 0.05]
    after = [ok for started, ok in results if started > revoked_at]
    assert before and all(before)
    assert after and not any(after)
