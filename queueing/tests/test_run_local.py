"""`make run`: with no Redis server, broker or worker, people in the queue are still admitted."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from concertbooking.heartbeat import heartbeat_age
from concertbooking.redis import queue_redis
from concertbooking.testing import process_group_stop
from queueing import services
from queueing.keys import room_keys
from queueing.management.commands.run_local import LocalBeat

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_local_beat_runs_every_scheduled_task(make_users, settings):
    users = make_users(3)
    for user in users:
        services.queue_token_issue(user_id=user.pk)
    schedule = {
        **settings.CELERY_BEAT_SCHEDULE,
        "queue-promote": {"task": "queueing.queue_promote", "schedule": 0.1},
    }
    beat = LocalBeat(schedule)
    assert set(beat.entries) == {entry["task"] for entry in schedule.values()}
    beat.start()
    try:
        deadline = time.monotonic() + 10
        while queue_redis().zcard(room_keys("main").active) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        beat.stop()
        beat.join(timeout=10)
    assert queue_redis().zcard(room_keys("main").active) == 3
    assert all(beat.last_run.values())  # every periodic task ran, not just the promotion
    assert not beat.is_alive()
    assert heartbeat_age() < 10  # its ticks stamp the heartbeat readiness reads, as beat's do


def _request(port: int, method: str, path: str, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        headers=headers,
        data=b"" if method == "POST" else None,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.mark.slow
def test_make_run_admits_people_without_any_server(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "QUEUE_REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY"}
    }
    env.update(
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        QUEUE_PROMOTE_INTERVAL_SECONDS="0.2",
        CELERY_TASK_ALWAYS_EAGER="1",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    key = subprocess.run(
        [
            *manage,
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model;"
            "from accounts.services import api_token_create;"
            "u = get_user_model().objects.create_user('local', password='pw-local-123');"
            "print(api_token_create(user=u))",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]

    server = subprocess.Popen(
        [*manage, "run_local", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        auth = {"Authorization": f"Token {key}"}
        deadline = time.monotonic() + 30
        while True:
            try:
                if _request(port, "GET", "/api/health", {})[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "no server"
            time.sleep(0.2)

        status, ticket = _request(port, "POST", "/api/queue/tokens", auth)
        assert status == 201, ticket
        queue = {**auth, "Queue-Token": ticket["token"]}
        while ticket["status"] != "active":
            assert time.monotonic() < deadline, ticket
            time.sleep(0.2)
            status, ticket = _request(port, "GET", "/api/queue/tokens/current", queue)
            assert status == 200, ticket
        # Through the gate: the view answers (no such concert) instead of the queue.
        status, body = _request(port, "GET", "/api/concerts/999/available-dates", queue)
        assert status == 404, body
    finally:
        process_group_stop(server)
