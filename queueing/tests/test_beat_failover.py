"""Beat failover: of two real beats only the lock holder schedules; killed, the other takes over."""

import os
import signal
import time

import pytest
import redis
from django.conf import settings

from concertbooking.heartbeat import heartbeat_age
from queueing.tests.celery_processes import CeleryProcesses

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LOCK_TIMEOUT = 3


def test_a_second_beat_waits_and_takes_over_when_the_first_is_killed(tmp_path):
    procs = CeleryProcesses(
        tmp_path, BEAT_LOCK_TIMEOUT_SECONDS=str(LOCK_TIMEOUT), QUEUE_PROMOTE_INTERVAL_SECONDS="0.25"
    )
    try:
        procs.worker("admissions", "admissions")
        first = procs.beat("first")
        procs.wait_for(lambda: "Acquired lock" in procs.log("first"), timeout=30, what="a lock")
        procs.beat("second")
        procs.wait_for(
            lambda: (age := heartbeat_age()) is not None and age < 0.5,
            timeout=30,
            what="the first beat's ticks",
        )
        procs.wait_for(
            lambda: "beat: Starting" in procs.log("second"), timeout=30, what="the second beat"
        )
        time.sleep(2)  # a few of its tries at the lock
        assert "Acquired lock" not in procs.log("second")
        assert "Sending due task" not in procs.log("second")

        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        procs.wait_for(lambda: heartbeat_age() > 1, timeout=5, what="the ticks to stop")
        # The lock runs out unrenewed; the second beat, trying it every second, takes it.
        procs.wait_for(
            lambda: heartbeat_age() < 0.5, timeout=LOCK_TIMEOUT + 3, what="the second beat"
        )
        assert "Acquired lock" in procs.log("second")
        assert "Sending due task queue-promote" in procs.log("second")
    finally:
        procs.stop()


def test_a_beat_that_finds_its_lock_taken_stops(tmp_path):
    """A beat that could not renew its lock in time (Redis out of its reach, say) and finds
    another holder exits rather than schedule beside it; a supervisor restarts it to wait."""
    procs = CeleryProcesses(tmp_path, BEAT_LOCK_TIMEOUT_SECONDS=str(LOCK_TIMEOUT))
    try:
        beat = procs.beat("beat")
        procs.wait_for(lambda: "Acquired lock" in procs.log("beat"), timeout=30, what="a lock")
        # What a second beat leaves once the first's lock ran out and it took it.
        redis.Redis.from_url(settings.CELERY_REDBEAT_REDIS_URL).set(
            "redbeat::lock", "another-beat", px=60_000
        )
        beat.wait(timeout=10)
        assert beat.returncode != 0
        assert "LockNotOwnedError" in procs.log("beat")
    finally:
        procs.stop()
