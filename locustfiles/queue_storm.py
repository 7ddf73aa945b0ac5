"""The queue alone: many users take a place, poll a few times, leave and come back, at full speed.

    locust -f locustfiles/queue_storm.py --headless -u 1000 -r 200 -t 60s --host http://127.0.0.1:8000

Every cycle issues a new token (the previous one was given up), so a minute of this issues tens of
thousands of tokens against a queue that keeps growing.
"""

from locust import constant, task

from common import OUTCOMES, ApiUser

POLLS_PER_CYCLE = 5


class QueueStormer(ApiUser):
    wait_time = constant(0)

    @task
    def cycle(self) -> None:
        with self.client.post(
            "/api/queue/tokens", headers=self.auth, name="queue token issue", catch_response=True
        ) as response:
            if response.status_code not in (200, 201):
                response.failure(f"issue: {response.status_code}")
                OUTCOMES["fail_issue"] += 1
                return
            token = response.json()["token"]
        headers = {**self.auth, "Queue-Token": token}
        for _ in range(POLLS_PER_CYCLE):
            with self.client.get(
                "/api/queue/tokens/current",
                headers=headers,
                name="queue token status",
                catch_response=True,
            ) as response:
                if response.status_code != 200:
                    response.failure(f"status: {response.status_code}")
                    OUTCOMES["fail_status"] += 1
                    return
        with self.client.delete(
            "/api/queue/tokens/current",
            headers=headers,
            name="queue token leave",
            catch_response=True,
        ) as response:
            if response.status_code != 204:
                response.failure(f"leave: {response.status_code}")
                OUTCOMES["fail_leave"] += 1
                return
        OUTCOMES["cycles"] += 1
