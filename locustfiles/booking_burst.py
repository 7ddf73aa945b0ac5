"""The report's scenario: N buyers arrive at once, each once through queue, dates, seats, hold, pay.

    locust -f locustfiles/booking_burst.py --headless -u 200 -r 200 -t 5m --host http://127.0.0.1:8000

Separate outcome counters per step (printed at the end, and written to LOCUST_STEP_REPORT): a
failure is any unexpected answer; a 409 seat_unavailable on a hold is genuine contention (another
buyer took the seat first) and the buyer tries another seat, up to three times.
"""

import random
import time

from locust import constant, task
from locust.exception import StopUser

from common import (
    OUTCOMES,
    PAUSE_SECONDS,
    ApiUser,
    random_concert_id,
    step,
    wait_for_admission,
)

HOLD_ATTEMPTS = 3
_finished = 0


class BurstBuyer(ApiUser):
    wait_time = constant(0)

    @task
    def buy_once(self) -> None:
        global _finished
        try:
            if self.buy():
                OUTCOMES["success"] += 1
        finally:
            _finished += 1
            if _finished >= self.environment.runner.target_user_count:
                self.environment.runner.quit()
            raise StopUser()

    def buy(self) -> bool:
        queue_token = wait_for_admission(self)
        if queue_token is None:
            return False
        headers = {**self.auth, "Queue-Token": queue_token}
        time.sleep(PAUSE_SECONDS)

        concert_id = random_concert_id()
        dates = step(
            self, "GET", f"/api/concerts/{concert_id}/available-dates", headers=headers,
            name="2 dates", failure="dates",
        )  # fmt: skip
        if dates is False:
            return False
        if not dates:
            OUTCOMES["contention_sold_out"] += 1
            return False
        schedule_id = random.choice(dates)["schedule_id"]
        time.sleep(PAUSE_SECONDS)

        seats = step(
            self, "GET", f"/api/concerts/{concert_id}/schedules/{schedule_id}/available-seats",
            headers=headers, name="3 seats", failure="seats",
        )  # fmt: skip
        if seats is False:
            return False
        time.sleep(PAUSE_SECONDS)

        reservation_id = None
        for seat in random.sample(seats, min(HOLD_ATTEMPTS, len(seats))):
            with self.client.post(
                "/api/reservation/concerts",
                json={"seat_id": seat["seat_id"]},
                headers=headers,
                name="4 hold",
                catch_response=True,
            ) as response:
                if response.status_code == 201:
                    reservation_id = response.json()["reservation_id"]
                    break
                if (
                    response.status_code == 409
                    and response.json().get("code") == "seat_unavailable"
                ):
                    response.success()  # genuine contention, not a fault
                    OUTCOMES["contention_hold"] += 1
                    continue
                response.failure(f"hold: {response.status_code} {response.text[:100]}")
                OUTCOMES["fail_hold"] += 1
                return False
        if reservation_id is None:
            OUTCOMES["contention_no_seat"] += 1
            return False
        time.sleep(PAUSE_SECONDS)

        paid = step(
            self, "POST", "/api/reservation/payments", json={"reservation_id": reservation_id},
            headers=headers, name="5 payment", failure="payment", expect=(201,),
        )  # fmt: skip
        return paid is not False
