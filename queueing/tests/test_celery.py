"""End to end: a real Celery worker with embedded beat admits waiting users over real Redis."""

import os
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

from concertbooking.redis import queue_redis
from concertbooking.testing import process_group_stop
from queueing import services
from queueing.keys import room_keys
from queueing.tests.test_concurrency import _test_database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"


def _active() -> list[int]:
    return [int(m) for m in queue_redis().zrange(room_keys("main").active, 0, -1)]


def _wait_for(predicate, *, timeout: float, worker: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited with {worker.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the worker")
        time.sleep(0.1)


def test_worker_with_beat_admits_waiting_users(make_users, queue_settings, tmp_path):
    users = make_users(5)
    for user in users:
        services.queue_token_issue(user_id=user.pk)
    queue_settings(capacity=3, admit_per_tick=2)

    log = (tmp_path / "worker.log").open("w")  # a file, not a pipe nobody reads while it runs
    worker = subprocess.Popen(
        [
            str(CELERY),
            "-A",
            "concertbooking",
            "worker",
            "-B",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            # Both queues: the promotion is routed to `admissions`.
            "--queues=admissions,celery",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "QUEUE_REDIS_URL": settings.QUEUE_REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "QUEUE_PROMOTE_INTERVAL_SECONDS": "0.2",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # beat runs as a child of the worker: stop the whole group
    )
    try:
        _wait_for(lambda: len(_active()) == 3, timeout=60, worker=worker)
        assert "queueing.queue_promote" in (tmp_path / "worker.log").read_text()
        assert sorted(_active()) == [u.pk for u in users[:3]]

        # A freed slot is filled on a later tick, by the next in line; capacity still holds.
        services.queue_release_user(user_id=users[0].pk, room="main")
        _wait_for(lambda: users[3].pk in _active(), timeout=20, worker=worker)
        time.sleep(0.5)  # a few more ticks
        assert sorted(_active()) == [u.pk for u in users[1:4]]
    finally:
        process_group_stop(worker)
        log.close()
