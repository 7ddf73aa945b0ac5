"""A realistic mix at a fixed arrival rate, for latency percentiles below saturation.

    locust -f locustfiles/steady_mix.py --headless -u 100 -r 20 -t 2m --host http://127.0.0.1:8000

Each user is admitted through the queue, then browses at about one request a second: mostly
reads, now and then a hold that is paid for (or released, as real buyers often do). Paying for the
last hold hands the queue slot back, so a buyer who goes on shopping queues again, as on the site.
"""

import random

from locust import constant_throughput, task

from common import OUTCOMES, ApiUser, random_concert_id, wait_for_admission


class SteadyBuyer(ApiUser):
    wait_time = constant_throughput(1)

    def on_start(self) -> None:
        self.headers = None
        self.concert_id = random_concert_id()
        self.schedules: list[int] = []

    def admitted(self) -> bool:
        if self.headers is None:
            token = wait_for_admission(self)
            self.headers = {**self.auth, "Queue-Token": token} if token else None
        return self.headers is not None

    def gated(self, method: str, path: str, name: str, **kwargs):
        """A call behind the queue gate; a slot given back (after paying) means queueing again."""
        with self.client.request(
            method, path, headers=self.headers, name=name, catch_response=True, **kwargs
        ) as response:
            if response.status_code == 403 and response.json().get("code") == (
                "queue_token_invalid"
            ):
                response.success()
                OUTCOMES["queued_again"] += 1
                self.headers = None
                return None
            if response.status_code == 409:
                response.success()  # a seat someone else took first: contention, not a fault
                OUTCOMES["contention_hold"] += 1
                return None
            if response.status_code >= 400:
                response.failure(f"{name}: {response.status_code} {response.text[:100]}")
                return None
            return response.json() if response.content else {}

    @task(3)
    def concerts(self) -> None:
        self.client.get(f"/api/concerts?page={random.randint(1, 10)}", name="concerts")

    @task(3)
    def dates(self) -> None:
        if not self.admitted():
            return
        concert_id = random_concert_id()
        dates = self.gated("GET", f"/api/concerts/{concert_id}/available-dates", "dates")
        if dates is not None:  # the schedules must stay those of self.concert_id
            self.concert_id, self.schedules = concert_id, [d["schedule_id"] for d in dates]

    def seats(self) -> list[dict] | None:
        if not self.admitted() or not self.schedules:
            return None
        schedule_id = random.choice(self.schedules)
        return self.gated(
            "GET",
            f"/api/concerts/{self.concert_id}/schedules/{schedule_id}/available-seats",
            "seats",
        )

    @task(3)
    def browse_seats(self) -> None:
        self.seats()

    @task(2)
    def queue_status(self) -> None:
        if self.headers:
            self.gated("GET", "/api/queue/tokens/current", "queue status")

    @task(1)
    def hold_and_pay(self) -> None:
        seats = self.seats()
        if not seats:
            return
        hold = self.gated(
            "POST",
            "/api/reservation/concerts",
            "hold",
            json={"seat_id": random.choice(seats)["seat_id"]},
        )
        if not hold:
            return
        if random.random() < 0.7:
            self.gated(
                "POST",
                "/api/reservation/payments",
                "payment",
                json={"reservation_id": hold["reservation_id"]},
            )
        else:
            self.client.delete(
                f"/api/reservations/{hold['reservation_id']}", headers=self.auth, name="release"
            )
