"""A change made in this process refuses the very next call another app server answers.

The other server (runserver on a loopback port, on this test's database and Redis) keeps nothing
of its own: it reads the one cache, which the change drops when it commits.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from knox.crypto import hash_token
from knox.models import AuthToken

from accounts import selectors
from concertbooking.testing import process_group_stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BALANCE = "/api/users/me/balance"


def _status(base: str, path: str, headers: dict) -> int:
    request = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def other_server(django_db_setup):
    """The base URL of a second app server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = settings.DATABASES["default"]  # the test database, once set up
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "QUEUE_REDIS_URL": settings.QUEUE_REDIS_URL,
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        "CALLER_CACHE_SECONDS": str(settings.CALLER_CACHE_SECONDS),
        "SECRET_KEY": settings.SECRET_KEY,  # it reads the sessions this process signs
        "DEBUG": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _status(base, "/api/health", {}) == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "no server"
            time.sleep(0.2)
        yield base
    finally:
        process_group_stop(server)


def _token_caller(user) -> tuple[dict, str]:
    _, key = AuthToken.objects.create(user)
    return {"Authorization": f"Token {key}"}, selectors._token_key(hash_token(key))


def _session_caller(user) -> tuple[dict, str]:
    browser = Client()
    browser.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    return {"Cookie": cookie}, selectors._user_key(user.pk)


def _deactivate(user):
    user.is_active = False
    user.save()


def _new_password(user):
    user.set_password("a-new-password-123")
    user.save()


CASES = {
    "token-revoked": (_token_caller, lambda user: AuthToken.objects.get(user=user).delete()),
    "token-user-deactivated": (_token_caller, _deactivate),
    "token-user-deleted": (_token_caller, lambda user: user.delete()),
    "token-new-password": (_token_caller, _new_password),
    "session-user-deactivated": (_session_caller, _deactivate),
    "session-new-password": (_session_caller, _new_password),
}


@pytest.mark.parametrize(("caller", "change"), CASES.values(), ids=CASES.keys())
def test_the_other_server_refuses_the_very_next_call(other_server, user, caller, change):
    headers, entry = caller(user)
    assert _status(other_server, BALANCE, headers) == 200
    assert _status(other_server, BALANCE, headers) == 200
    assert cache.get(entry) is not None  # the other server answers from the cache

    change(user)

    assert _status(other_server, BALANCE, headers) == 401


def test_the_other_server_refuses_a_token_once_it_expires(other_server, user):
    """Expiry needs no change to tell anyone: each read checks it, cached or not."""
    from datetime import timedelta

    from django.utils import timezone

    token, key = AuthToken.objects.create(user, expiry=timedelta(seconds=2))
    headers = {"Authorization": f"Token {key}"}
    assert _status(other_server, BALANCE, headers) == 200
    assert cache.get(selectors._token_key(hash_token(key))) is not None
    time.sleep(max(0.0, (token.expiry - timezone.now()).total_seconds()) + 0.1)
    assert _status(other_server, BALANCE, headers) == 401
