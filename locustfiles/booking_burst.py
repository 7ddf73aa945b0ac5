"""The report's scenario: N buyers arrive at once, each once through queue, dates, seats, hold, pay;
then the same waves of GET /api/health, the baseline the burst's latency is read against.

    locust -f locustfiles/booking_burst.py --headless -u 200 -r 200 -t 5m --host http://127.0.0.1:8000

Iterations are shared, as k6's shared-iterations executor shares them: LOCUST_ITERATIONS
purchases (default: one per user) go to whichever user is free. Each purchase's pauses are
recorded (before its first request, and between each response and the next request). Once the
last purchase ends, the users replay them, all starting at once: GET /api/health after each
pause, so the health waves have the burst's users, pauses and request count, in the same run.

Separate outcome counters per step (printed at the end, and written to LOCUST_STEP_REPORT): a
failure is any unexpected answer; a 409 seat_unavailable on a hold is genuine contention (another
buyer took the seat first) and the buyer tries another seat, up to three times.
"""

import os
import time

from gevent.event import Event
from locust import constant, events, task
from locust.exception import StopUser

from common import (
    BASELINE,
    OUTCOMES,
    ApiUser,
    buy_a_seat,
    random_concert_id,
    wait_for_admission,
)

ITERATIONS = int(os.environ.get("LOCUST_ITERATIONS") or 0)

# The shared iterations: purchases claimed and ended, then replays of their pauses.
_bought = {"claimed": 0, "ended": 0}
_replayed = {"claimed": 0, "ended": 0}
_pacings: list[list[float]] = []
_burst_over = Event()


def _iterations(environment) -> int:
    return ITERATIONS or environment.runner.target_user_count


@events.request.add_listener
def _record(start_time, response_time, context, **_kwargs) -> None:
    """A purchase's requests as (start, end), epoch seconds, on the user's current timeline."""
    timeline = context.get("timeline")
    if timeline is not None:
        timeline.append((start_time, start_time + response_time / 1000))


def _pauses(started: float, timeline: list[tuple[float, float]]) -> list[float]:
    """Seconds before each request: since the purchase began, then since the last response."""
    ends = [started] + [end for _, end in timeline]
    return [max(0.0, start - end) for (start, _), end in zip(timeline, ends, strict=False)]


class BurstBuyer(ApiUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.timeline: list[tuple[float, float]] | None = None

    def context(self) -> dict:
        return {"timeline": self.timeline}

    @task
    def burst_then_health(self) -> None:
        total = _iterations(self.environment)
        while _bought["claimed"] < total:
            _bought["claimed"] += 1
            self.timeline, started = [], time.time()
            try:
                if self.buy():
                    OUTCOMES["success"] += 1
            finally:
                _pacings.append(_pauses(started, self.timeline))
                self.timeline = None
                _bought["ended"] += 1
                if _bought["ended"] >= total:
                    _burst_over.set()
        _burst_over.wait()
        while _replayed["claimed"] < len(_pacings):
            pauses = _pacings[_replayed["claimed"]]
            _replayed["claimed"] += 1
            try:
                for pause in pauses:
                    time.sleep(pause)
                    self.client.get("/api/health", name=BASELINE)
            finally:
                _replayed["ended"] += 1
                if _replayed["ended"] >= len(_pacings):
                    self.environment.runner.quit()
        raise StopUser()

    def buy(self) -> bool:
        queue_token = wait_for_admission(self)
        if queue_token is None:
            return False
        headers = {**self.auth, "Queue-Token": queue_token}
        return buy_a_seat(self, random_concert_id(), headers, first_step=2)
