"""Redis clients: a real server from REDIS_URL, or one in-process fakeredis server shared by all.

The queue's URL may also name a Redis Cluster or a Sentinel-managed master:

    redis+cluster://[[user]:password@]host:port[,host:port...]     startup nodes of a cluster
    redis+sentinel://[[user]:password@]host:port[,host:port...]/<master name>[/<db>]

(`rediss+cluster://` and `rediss+sentinel://` for TLS). Credentials are the data nodes'; the
sentinels themselves are asked without them.
"""

from functools import cache
from urllib.parse import unquote, urlsplit

import fakeredis
import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

# One fake server per process, so the cache, the queue and Celery's eager tasks see the same data.
_IN_PROCESS_SERVER = fakeredis.FakeServer()

# A cluster call that meets a dead node refreshes the slot map before it fails, so the next call
# finds a promoted replica; retrying at once (redis-py retries ten times) would hold the caller
# one more timeout per try while a master hangs, and the 503 already says when to come back.
CLUSTER_RETRIES = 0


class FakeConnection(fakeredis.FakeRedisConnection):
    """A fakeredis connection bound to the process-wide server (Lua scripts included)."""

    def __init__(self, *args, **kwargs):
        kwargs["server"] = _IN_PROCESS_SERVER
        super().__init__(*args, **kwargs)


def _nodes(netloc: str, url: str) -> tuple[dict, list[tuple[str, int]]]:
    """(credentials, [(host, port), ...]) from `[user:password@]host:port,host:port`."""
    credentials = {}
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        credentials = {"username": unquote(user) or None, "password": unquote(password) or None}
    nodes = []
    for node in netloc.split(","):
        host, _, port = node.rpartition(":")
        if not host or not port.isdigit():
            raise ImproperlyConfigured(f"Redis URL {url!r}: {node!r} is not host:port.")
        nodes.append((host.strip("[]"), int(port)))
    return credentials, nodes


def make_client(url: str, *, timeout: float = 1.0) -> redis.Redis | RedisCluster:
    """A client for `url`, or for the in-process server when `url` is empty."""
    if not url:
        return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=FakeConnection))
    timeouts = {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "health_check_interval": 30,
    }
    parts = urlsplit(url)
    scheme, _, kind = parts.scheme.partition("+")
    if not kind:
        return redis.Redis.from_url(url, **timeouts)
    if scheme not in ("redis", "rediss") or kind not in ("cluster", "sentinel"):
        raise ImproperlyConfigured(f"Redis URL {url!r}: unknown scheme {parts.scheme!r}.")
    credentials, nodes = _nodes(parts.netloc, url)
    tls = {"ssl": True} if scheme == "rediss" else {}
    if kind == "cluster":
        if parts.path not in ("", "/", "/0"):
            raise ImproperlyConfigured(f"Redis URL {url!r}: a cluster has database 0 only.")
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in nodes],
            # A dead master leaves its slots uncovered; the other masters' rooms go on.
            require_full_coverage=False,
            retry=Retry(NoBackoff(), CLUSTER_RETRIES),
            **credentials,
            **tls,
            **timeouts,
        )
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ImproperlyConfigured(f"Redis URL {url!r}: the path must be /<master name>[/<db>].")
    sentinel = Sentinel(
        nodes,
        sentinel_kwargs={"socket_connect_timeout": timeout, "socket_timeout": timeout, **tls},
        **tls,
    )
    return sentinel.master_for(
        path[0], db=int(path[1]) if len(path) == 2 else 0, **credentials, **timeouts
    )


@cache
def queue_redis() -> redis.Redis | RedisCluster:
    """The queue's own client: unlike the cache it never swallows errors."""
    return make_client(settings.QUEUE_REDIS_URL)
