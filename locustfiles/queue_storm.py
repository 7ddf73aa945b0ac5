"""The queue alone: many users take a place, poll a few times, leave and come back, at full speed.

    locust -f locustfiles/queue_storm.py --headless -u 1000 -r 200 -t 60s --host http://127.0.0.1:8000

Every cycle issues a new token (the previous one was given up), so a minute of this issues tens of
thousands of tokens against a queue that keeps growing.
"""

from locust import constant, task

from common import OUTCOMES, ApiUser, step

POLLS_PER_CYCLE = 5


class QueueStormer(ApiUser):
    wait_time = constant(0)

    @task
    def cycle(self) -> None:
        state = step(
            self, "POST", "/api/queue/tokens", headers=self.auth, name="queue token issue",
            failure="issue", expect=(200, 201),
        )  # fmt: skip
        if state is False:
            return
        headers = {**self.auth, "Queue-Token": state["token"]}
        for _ in range(POLLS_PER_CYCLE):
            polled = step(
                self, "GET", "/api/queue/tokens/current", headers=headers,
                name="queue token status", failure="status",
            )  # fmt: skip
            if polled is False:
                return
        left = step(
            self, "DELETE", "/api/queue/tokens/current", headers=headers,
            name="queue token leave", failure="leave", expect=(204,),
        )  # fmt: skip
        if left is not False:
            OUTCOMES["cycles"] += 1
