"""Real Celery processes (workers, beat) for tests, on the test database and the suite's Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from concertbooking.testing import process_group_stop
from queueing.tests.test_concurrency import _test_database_url

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"
QUICK_START = ["--without-heartbeat", "--without-mingle", "--without-gossip"]


class CeleryProcesses:
    """Starts `celery -A concertbooking ...` processes and stops every one it started."""

    def __init__(self, logs: Path, **env: str):
        self.logs = logs
        self.env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "QUEUE_REDIS_URL": settings.QUEUE_REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            **env,
        }
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")  # a file, not a pipe nobody reads
        process = subprocess.Popen(
            [str(CELERY), "-A", "concertbooking", *args, "--loglevel=INFO"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a worker's children go with it
        )
        log.close()
        self.started.append(process)
        return process

    def worker(self, name: str, queues: str) -> subprocess.Popen:
        # One process that runs one task at a time, as the `admissions` worker does.
        return self.start(
            name,
            "worker",
            f"--queues={queues}",
            "--pool=solo",
            f"--hostname={name}@%h",
            *QUICK_START,
        )

    def beat(self, name: str) -> subprocess.Popen:
        return self.start(name, "beat", "-S", "redbeat.RedBeatScheduler")

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def wait_for(self, predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            for process in self.started:
                if process.poll() is not None and process.returncode != -signal.SIGKILL:
                    raise AssertionError(f"{process.args[3:5]} exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def stop(self) -> None:
        for process in self.started:
            process_group_stop(process)
