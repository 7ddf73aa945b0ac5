"""A realistic mix at a fixed arrival rate, for latency percentiles below saturation.

    locust -f locustfiles/steady_mix.py --headless -u 100 -r 20 -t 2m --host http://127.0.0.1:8000

Each user is admitted once, then browses at about one request a second: mostly reads, now and then
a hold that is paid for (or released, as real buyers often do).
"""

import random

from locust import constant_throughput, task

from common import OUTCOMES, ApiUser, random_concert_id, wait_for_admission


class SteadyBuyer(ApiUser):
    wait_time = constant_throughput(1)

    def on_start(self) -> None:
        token = wait_for_admission(self)
        self.headers = {**self.auth, "Queue-Token": token} if token else None
        self.concert_id = random_concert_id()
        self.schedules: list[int] = []

    @task(3)
    def concerts(self) -> None:
        self.client.get(f"/api/concerts?page={random.randint(1, 10)}", name="concerts")

    @task(3)
    def dates(self) -> None:
        if not self.headers:
            return
        self.concert_id = random_concert_id()
        response = self.client.get(
            f"/api/concerts/{self.concert_id}/available-dates",
            headers=self.headers,
            name="dates",
        )
        if response.status_code == 200:
            self.schedules = [d["schedule_id"] for d in response.json()]

    @task(3)
    def seats(self) -> None:
        if not self.headers or not self.schedules:
            return
        self.client.get(
            f"/api/concerts/{self.concert_id}/schedules/{random.choice(self.schedules)}"
            "/available-seats",
            headers=self.headers,
            name="seats",
        )

    @task(2)
    def queue_status(self) -> None:
        if self.headers:
            self.client.get("/api/queue/tokens/current", headers=self.headers, name="queue status")

    @task(1)
    def hold_and_pay(self) -> None:
        if not self.headers or not self.schedules:
            return
        response = self.client.get(
            f"/api/concerts/{self.concert_id}/schedules/{random.choice(self.schedules)}"
            "/available-seats",
            headers=self.headers,
            name="seats",
        )
        if response.status_code != 200 or not response.json():
            return
        seat_id = random.choice(response.json())["seat_id"]
        with self.client.post(
            "/api/reservation/concerts",
            json={"seat_id": seat_id},
            headers=self.headers,
            name="hold",
            catch_response=True,
        ) as hold:
            if hold.status_code == 409:
                hold.success()
                OUTCOMES["contention_hold"] += 1
                return
            if hold.status_code != 201:
                return
            reservation_id = hold.json()["reservation_id"]
        if random.random() < 0.7:
            self.client.post(
                "/api/reservation/payments",
                json={"reservation_id": reservation_id},
                headers=self.headers,
                name="payment",
            )
        else:
            self.client.delete(
                f"/api/reservations/{reservation_id}", headers=self.headers, name="release"
            )
