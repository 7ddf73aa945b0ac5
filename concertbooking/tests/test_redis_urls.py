"""QUEUE_REDIS_URL's spellings: which client each one makes, and the ones refused at start."""

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from redis.sentinel import SentinelConnectionPool

from concertbooking.redis import make_client


def test_plain_redis_is_unchanged():
    client = make_client("redis://127.0.0.1:6379/9")
    assert type(client) is redis.Redis
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["port"], kwargs["db"], kwargs["socket_timeout"]) == (6379, 9, 1.0)


def test_sentinel_names_its_sentinels_master_and_database():
    client = make_client("redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380/cbq/2")
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "cbq"
    assert [
        s.connection_pool.connection_kwargs["port"] for s in pool.sentinel_manager.sentinels
    ] == [
        26379,
        26380,
    ]
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["password"], kwargs["socket_timeout"]) == (2, "s3cret", 1.0)
    # The sentinels are asked without the data nodes' password, with the same short timeouts.
    sentinel_kwargs = pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs
    assert sentinel_kwargs.get("password") is None
    assert sentinel_kwargs["socket_timeout"] == 1.0


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://10.0.0.1:26379",  # no master name
        "redis+sentinel://10.0.0.1:26379/cbq/x",
        "redis+sentinel://10.0.0.1:26379/cbq/0/more",
        "redis+sentinel://10.0.0.1/cbq",  # no port
        "redis+cluster://10.0.0.1:7000/3",  # a cluster has database 0 only
        "redis+swarm://10.0.0.1:7000",
        "http+cluster://10.0.0.1:7000",
    ],
)
def test_a_bad_spelling_is_refused_with_its_reason(url):
    with pytest.raises(ImproperlyConfigured, match="Redis URL"):
        make_client(url)


def test_a_cluster_nobody_answers_is_a_connection_problem():
    """A cluster client learns the slots when made; with no node answering it cannot be made,
    and the store turns that into 503 (queueing/tests/test_cluster.py)."""
    with pytest.raises(redis.exceptions.RedisClusterException) as raised:
        make_client("redis+cluster://127.0.0.1:1,127.0.0.1:2")
    assert isinstance(raised.value.__cause__, redis.ConnectionError)
