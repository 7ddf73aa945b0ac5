"""`make run`: the development server plus an in-process beat, so the queue admits people with
no Celery worker, broker or Redis server (tasks run in this process, on the in-process Redis)."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from celery.schedules import maybe_schedule
from django.conf import settings
from django.core.management import get_commands, load_command_class
from django.db import connections

from concertbooking.celery import app

logger = logging.getLogger(__name__)

# Whichever runserver is installed (whitenoise's or Django's), with the beat added.
RunserverCommand = type(load_command_class(get_commands()["runserver"], "runserver"))


class LocalBeat(threading.Thread):
    """Runs every entry of CELERY_BEAT_SCHEDULE at its own interval, inline, in one thread.

    What `celery beat` plus a worker do in production; a single process has no broker to send
    through, so each due task is applied here directly.
    """

    def __init__(self, schedule: dict | None = None):
        super().__init__(name="local-beat", daemon=True)
        app.loader.import_default_modules()  # registers every app's tasks
        schedule = settings.CELERY_BEAT_SCHEDULE if schedule is None else schedule
        self.entries = {
            entry["task"]: maybe_schedule(entry["schedule"], app=app) for entry in schedule.values()
        }
        self.last_run: dict[str, datetime | None] = dict.fromkeys(self.entries)
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.is_set():
                self.stopped.wait(self.tick())
        finally:
            connections.close_all()

    def tick(self) -> float:
        """Apply every due task once; returns the seconds until the next one is due."""
        wait = 60.0
        for name, schedule in self.entries.items():
            last = self.last_run[name]
            if last is None or schedule.is_due(last).is_due:
                self.last_run[name] = schedule.now()
                result = app.tasks[name].apply()
                if result.failed():
                    logger.error("%s failed: %s", name, result.traceback)
            wait = min(wait, schedule.is_due(self.last_run[name]).next)
        return max(0.05, wait)

    def stop(self) -> None:
        self.stopped.set()


class Command(RunserverCommand):
    help = "Development server plus every periodic task (queue promotion included) in-process."

    def inner_run(self, *args, **options):
        # Runs in the serving process (the autoreloader's child), so a reload restarts the beat.
        beat = LocalBeat()
        beat.start()
        self.stdout.write(
            "Periodic tasks in-process: "
            + ", ".join(f"{name} {schedule}" for name, schedule in beat.entries.items())
        )
        try:
            return super().inner_run(*args, **options)
        finally:
            beat.stop()
