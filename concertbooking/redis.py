"""Redis clients: a real server from REDIS_URL, or one in-process fakeredis server shared by all."""

from functools import cache

import fakeredis
import redis
from django.conf import settings

# One fake server per process, so the cache, the queue and Celery's eager tasks see the same data.
_IN_PROCESS_SERVER = fakeredis.FakeServer()


class FakeConnection(fakeredis.FakeRedisConnection):
    """A fakeredis connection bound to the process-wide server (Lua scripts included)."""

    def __init__(self, *args, **kwargs):
        kwargs["server"] = _IN_PROCESS_SERVER
        super().__init__(*args, **kwargs)


def make_client(url: str, *, timeout: float = 1.0) -> redis.Redis:
    """A client for `url`, or for the in-process server when `url` is empty."""
    if not url:
        return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=FakeConnection))
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
    )


@cache
def queue_redis() -> redis.Redis:
    """The queue's own client: unlike the cache it never swallows errors."""
    return make_client(settings.QUEUE_REDIS_URL)
