"""Suite-wide fixtures: fast password hashing, a clean Redis per test, API clients."""

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # Tests create many users; the production hasher costs ~0.3 s per password.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _rate_limits_off(settings):
    """Many tests burst from one address on purpose; the `rate_limits` fixture turns the limits
    on where they are the subject, and the browser tests keep them on as a buyer meets them."""
    settings.RATE_LIMITS_ENABLED = False


@pytest.fixture
def rate_limits(settings):
    settings.RATE_LIMITS_ENABLED = True
    return settings


@pytest.fixture(autouse=True)
def _fresh_queue_settings():
    """Room rows roll back (or are flushed) between tests; every app's tests run the queue, so
    no test may see the copy an earlier test left in this process."""
    from queueing.selectors import rooms_forget

    rooms_forget()
    yield
    rooms_forget()


@pytest.fixture(autouse=True)
def _fresh_readiness():
    """Each test's /api/ready checks afresh, not with an outcome (or a check still hanging)
    an earlier test left in this process."""
    from concertbooking.readiness import readiness_forget

    readiness_forget()
    yield
    readiness_forget()


@pytest.fixture(autouse=True)
def _no_node_held():
    """A queue Redis node an earlier test left held down would refuse this test's calls."""
    from queueing.store import nodes_held_forget

    nodes_held_forget()
    yield
    nodes_held_forget()


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty queue store and cache (the suite has its own Redis db)."""
    from concertbooking.redis import make_client, queue_redis

    queue_redis().flushdb()
    if django_settings.REDIS_URL and django_settings.REDIS_URL != django_settings.QUEUE_REDIS_URL:
        make_client(django_settings.REDIS_URL).flushdb()
    yield


@pytest.fixture
def redis_round_trips(monkeypatch):
    """Counts what every Redis client writes to a socket: one write per round trip (a pipeline
    is one write)."""
    import redis

    sent = []
    original = redis.connection.Connection.send_packed_command

    def counting(self, command, *args, **kwargs):
        sent.append(command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)
    return sent


@pytest.fixture
def queue_redis_at(settings):
    """queue_redis_at(url, cache_too=False): the queue's own client (and with `cache_too` the
    cache's address in the settings, as when both share a server) points at `url` for the rest
    of the test."""
    from concertbooking.redis import queue_redis

    def point(url: str, *, cache_too: bool = False):
        settings.QUEUE_REDIS_URL = url
        if cache_too:
            settings.REDIS_URL = url
        queue_redis.cache_clear()

    yield point
    queue_redis.cache_clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="pw-bob-123")


@pytest.fixture
def auth_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def admitted_client(user) -> APIClient:
    """A signed-in client whose user holds an active queue token (sent as Queue-Token)."""
    from queueing.testing import admit

    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_QUEUE_TOKEN=admit(user))
    return client


@pytest.fixture
def client_in(user):
    """A signed-in browser session whose user has been admitted through the queue."""
    from queueing.testing import page_client

    return page_client(user)
