"""Redis away: 503 queue_unavailable with Retry-After everywhere, nobody let in, and recovery."""

import pytest
from django.test import Client

from concertbooking.redis import queue_redis
from queueing import services, tokens
from queueing.errors import QueueUnavailable
from queueing.keys import FIFO_BASE
from queueing.testing import session_token_set
from queueing.tests.conftest import TcpProxy

pytestmark = pytest.mark.django_db


def _token(user) -> str:
    """A genuine token whose place Redis must be asked about (a forged one is refused without
    it)."""
    return tokens.token_make(room="main", user_id=user.pk, stamp=FIFO_BASE + 1)


def _assert_unavailable(response):
    assert response.status_code == 503
    assert response.json()["code"] == "queue_unavailable"
    assert int(response["Retry-After"]) > 0


def test_unreachable_redis(auth_client, user, queue_redis_at):
    queue_redis_at("redis://127.0.0.1:1/0")
    _assert_unavailable(auth_client.post("/api/queue/tokens"))
    _assert_unavailable(auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=_token(user)))
    _assert_unavailable(
        auth_client.delete("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=_token(user))
    )
    _assert_unavailable(
        auth_client.get("/api/concerts/1/available-dates", HTTP_QUEUE_TOKEN=_token(user))
    )
    _assert_unavailable(
        auth_client.post("/api/reservation/concerts", HTTP_QUEUE_TOKEN=_token(user))
    )
    with pytest.raises(QueueUnavailable):
        services.queue_promote()
    with pytest.raises(QueueUnavailable):
        services.queue_release_user(user_id=user.pk, room="main")

    page = Client()
    page.force_login(user)
    session = page.session
    session_token_set(session, _token(user))
    session.save()
    response = page.get("/book/concerts/1/dates")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert b"unavailable" in response.content


def test_unreachable_redis_refuses_a_read_that_carries_the_check(auth_client, user, queue_redis_at):
    """Queue and cache on one server: the read's own round trip makes the gate's check, and a
    failed round trip refuses exactly as the gate alone would."""
    from booking.tests.factories import ScheduleFactory

    concert_id = ScheduleFactory().concert_id
    queue_redis_at("redis://127.0.0.1:1/0", cache_too=True)
    response = auth_client.get(
        f"/api/concerts/{concert_id}/available-dates", HTTP_QUEUE_TOKEN=_token(user)
    )
    _assert_unavailable(response)


def test_service_resumes_by_itself_when_redis_returns(auth_client, user, settings, queue_redis_at):
    host, port = "127.0.0.1", queue_redis().connection_pool.connection_kwargs["port"]
    db = queue_redis().connection_pool.connection_kwargs["db"]
    proxy = TcpProxy((host, port))
    proxy.start()
    try:
        queue_redis_at(f"redis://127.0.0.1:{proxy.port}/{db}")
        first = auth_client.post("/api/queue/tokens")
        assert first.status_code == 201
        token = first.json()["token"]
        services.queue_promote()
        path = "/api/concerts/1/available-dates"
        assert auth_client.get(path, HTTP_QUEUE_TOKEN=token).status_code == 404  # let through

        proxy.cut()  # drops the open connections too
        _assert_unavailable(auth_client.get(path, HTTP_QUEUE_TOKEN=token))
        _assert_unavailable(auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token))

        proxy.start()
        # Same client, same process: the next request reconnects, and the state is intact.
        assert auth_client.get(path, HTTP_QUEUE_TOKEN=token).status_code == 404
        again = auth_client.post("/api/queue/tokens")
        assert (again.status_code, again.json()["token"]) == (200, token)
    finally:
        proxy.cut()
