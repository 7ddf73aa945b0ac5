"""The queue on a Sentinel-managed master: a real master, its replica and one sentinel. While
the master is dead the queue answers 503; once the sentinel has promoted the replica, the same
client finds it and the places are still there."""

from __future__ import annotations

import pytest
import redis

from concertbooking.redis import queue_redis
from queueing import services
from queueing.tests import redis_servers

pytestmark = pytest.mark.django_db

MASTER, REPLICA, SENTINEL = 7111, 7112, 7113
URL = f"redis+sentinel://127.0.0.1:{SENTINEL}/cbq/0"


@pytest.fixture
def sentinel_set(tmp_path, queue_redis_at):
    processes = {}
    try:
        processes[MASTER] = redis_servers.start(MASTER, tmp_path / "master")
        processes[REPLICA] = redis_servers.start(
            REPLICA, tmp_path / "replica", "--replicaof", "127.0.0.1", str(MASTER)
        )
        processes[SENTINEL] = redis_servers.start(SENTINEL, tmp_path / "sentinel", sentinel=True)
        sentinel = redis_servers.node(SENTINEL)
        sentinel.sentinel_monitor("cbq", "127.0.0.1", MASTER, 1)
        sentinel.sentinel_set("cbq", "down-after-milliseconds", 500)
        sentinel.sentinel_set("cbq", "failover-timeout", 2000)
        redis_servers.wait_until(
            lambda: redis_servers.node(REPLICA).info("replication")["master_link_status"] == "up",
            "the replica to follow the master",
        )
        redis_servers.wait_until(
            lambda: sentinel.sentinel_master("cbq")["num-slaves"] == 1,
            "the sentinel to see the replica",
        )
        queue_redis_at(URL)
        yield processes
    finally:
        for process in processes.values():
            redis_servers.kill(process)


def test_the_queue_follows_a_failover(sentinel_set, auth_client):
    first = auth_client.post("/api/queue/tokens")
    assert first.status_code == 201, first.content
    token = first.json()["token"]
    assert services.queue_promote() == 1
    queue_redis().wait(1, 1000)  # the admission is on the replica before the master dies

    redis_servers.kill(sentinel_set.pop(MASTER))
    refused = auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token)
    assert (refused.status_code, refused.json()["code"]) == (503, "queue_unavailable")

    sentinel = redis_servers.node(SENTINEL)
    redis_servers.wait_until(
        lambda: sentinel.sentinel_get_master_addr_by_name("cbq")[1] == REPLICA,
        "the sentinel to promote the replica",
    )

    def answers() -> bool:
        response = auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token)
        return response.status_code == 200

    # The client may hold a connection to the old master's address for one more call.
    redis_servers.wait_until(answers, "the queue to answer from the new master", seconds=5)
    current = auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token)
    assert current.json()["status"] == "active"
    assert isinstance(queue_redis(), redis.Redis)
