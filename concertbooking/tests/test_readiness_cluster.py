"""Readiness of a queue on a real Redis Cluster of three masters (redis-server processes): one
master killed leaves the process ready (its rooms answer 503 themselves); all killed, not."""

import os
import random
import shutil
import signal
import socket
import subprocess
import time

import pytest
import redis

from concertbooking.readiness import CheckFailed, redis_answers

pytestmark = pytest.mark.slow


def _free_port() -> int:
    """A port that is free with its cluster bus port (10000 above, so below the ephemeral
    range's top)."""
    while True:
        port = random.randint(20000, 40000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


@pytest.fixture
def cluster(tmp_path):
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        pytest.skip("redis-server and redis-cli are needed")
    servers = {}
    try:
        for _ in range(3):
            port = _free_port()
            folder = tmp_path / str(port)
            folder.mkdir()
            servers[port] = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
                + ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
                + ["--save", "", "--appendonly", "no", "--dir", str(folder)],
                stdout=subprocess.DEVNULL,
            )
        for port in servers:
            deadline = time.monotonic() + 10
            while True:
                try:
                    redis.Redis(host="127.0.0.1", port=port).ping()
                    break
                except redis.ConnectionError:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
        subprocess.run(
            ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in servers]]
            + ["--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while (
            redis.Redis(host="127.0.0.1", port=next(iter(servers))).cluster("info")["cluster_state"]
            != "ok"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        client = redis.RedisCluster(
            host="127.0.0.1",
            port=next(iter(servers)),
            socket_timeout=1,
            socket_connect_timeout=1,
        )
        yield client, servers
    finally:
        for server in servers.values():
            if server.poll() is None:
                os.kill(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


def test_one_master_away_leaves_the_queue_ready_all_away_does_not(cluster):
    client, servers = cluster
    redis_answers(client)

    first = next(iter(servers))
    servers[first].kill()
    servers[first].wait()
    started = time.monotonic()
    redis_answers(client)
    assert time.monotonic() - started < 1.5

    for server in servers.values():
        server.kill()
        server.wait()
    with pytest.raises(CheckFailed, match="no primary answers"):
        redis_answers(client)
