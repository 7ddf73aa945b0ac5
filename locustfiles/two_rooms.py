"""Two concerts' on-sales at once, each behind a waiting room of its own, with a pre-queue.

    LOCUST_ROOM_CONCERTS=3,4 locust -f locustfiles/two_rooms.py --headless -u 2000 -r 200 \\
        -t 4m --host http://127.0.0.1:8000

The rooms exist before the run (`make loadtest SCENARIO=two_rooms` makes them, with the sale
starting some seconds after the users arrive): LOCUST_ROOM_CONCERTS names their concerts. Each
user joins both rooms as soon as it starts (the pre-queue), then, in each room at once, polls at
the interval the answer suggests until admitted, and buys one seat of that concert: dates, seats,
hold, pay. A room that answers `sold_out` is left. Every user does this once; the run ends when
the last one is done.

Per room, the report's "extra" section has the admitted, sold-out and timed-out counts and each
admitted user's wait from the sale's start to the poll that saw the admission.
"""

import os
import random
import statistics
import time
from datetime import datetime

import gevent
from locust import constant, events, task
from locust.exception import StopUser

from common import EXTRA_REPORT, OUTCOMES, ApiUser, buy_a_seat, step

ROOM_CONCERTS = [int(c) for c in os.environ.get("LOCUST_ROOM_CONCERTS", "").split(",") if c]
QUEUE_WAIT_TIMEOUT = float(os.environ.get("LOCUST_QUEUE_WAIT_TIMEOUT", "300"))

SALE_STARTS: dict[int, float] = {}  # concert id -> sale start (epoch seconds)
_WAITS: dict[int, list[float]] = {}  # concert id -> seconds from the start to a seen admission
_done = {"users": 0}


@events.test_start.add_listener
def _load_rooms(environment, **_kwargs) -> None:
    """Each room's sale start, from its public page."""
    if not ROOM_CONCERTS:
        raise RuntimeError("LOCUST_ROOM_CONCERTS names no concert")
    import json
    import urllib.request

    for concert_id in ROOM_CONCERTS:
        with urllib.request.urlopen(
            f"{environment.host}/api/concerts/{concert_id}/queue", timeout=10
        ) as response:
            room = json.load(response)
        if not room["own_room"] or not room["sale_starts_at"]:
            raise RuntimeError(f"concert {concert_id} has no room with a sale start: {room}")
        starts = datetime.fromisoformat(room["sale_starts_at"].replace("Z", "+00:00"))
        SALE_STARTS[concert_id] = starts.timestamp()
        _WAITS[concert_id] = []


def _room_figures() -> dict:
    """Each room's outcomes and the waits its buyers saw, for the report's "extra" section."""
    rooms = {}
    for concert_id, waits in _WAITS.items():
        ordered = sorted(waits)
        rooms[str(concert_id)] = {
            "admitted": len(waits),
            "sold_out": OUTCOMES[f"c{concert_id}_sold_out"],
            "timed_out": OUTCOMES[f"c{concert_id}_timeout"],
            "bought": OUTCOMES[f"c{concert_id}_bought"],
            "median_wait_s": round(statistics.median(ordered), 1) if ordered else None,
            "p95_wait_s": round(ordered[int(0.95 * (len(ordered) - 1))], 1) if ordered else None,
            "max_wait_s": round(ordered[-1], 1) if ordered else None,
        }
    return rooms


EXTRA_REPORT["rooms"] = _room_figures


class TwoRoomBuyer(ApiUser):
    wait_time = constant(0)

    @task
    def both_rooms(self) -> None:
        # Both joins first, before either room is polled: that is the pre-queue.
        tickets = {concert_id: self.join(concert_id) for concert_id in ROOM_CONCERTS}
        flows = [
            gevent.spawn(self.room_flow, concert_id, ticket)
            for concert_id, ticket in tickets.items()
            if ticket
        ]
        gevent.joinall(flows)
        _done["users"] += 1
        if _done["users"] >= self.environment.runner.target_user_count:
            self.environment.runner.quit()
        raise StopUser()

    def join(self, concert_id: int) -> dict | None:
        ticket = step(
            self, "POST", "/api/queue/tokens", json={"concert_id": concert_id},
            headers=self.auth, name="1 join room", failure="join", expect=(200, 201),
        )  # fmt: skip
        if ticket is False:
            return None
        if ticket["concert_id"] != concert_id:
            OUTCOMES["fail_join_wrong_room"] += 1
            return None
        OUTCOMES["joined_before_start" if ticket["status"] == "scheduled" else "joined_late"] += 1
        return ticket

    def room_flow(self, concert_id: int, ticket: dict) -> None:
        headers = {**self.auth, "Queue-Token": ticket["token"]}
        deadline = time.monotonic() + QUEUE_WAIT_TIMEOUT
        while ticket["status"] != "active":
            if ticket["status"] == "sold_out":
                OUTCOMES[f"c{concert_id}_sold_out"] += 1
                self.leave(headers)
                return
            if time.monotonic() > deadline:
                OUTCOMES[f"c{concert_id}_timeout"] += 1
                self.leave(headers)
                return
            # As the waiting-room page does: the answer's interval (before the start, the time
            # left until it), spread by +-20% so a crowd does not poll in step. The room records
            # the admission itself, so the waits do not depend on how soon a poll sees it.
            pause = float(ticket["poll_after_seconds"] or 1)
            time.sleep(pause * random.uniform(0.8, 1.2))
            ticket = step(
                self, "GET", "/api/queue/tokens/current", headers=headers, name="2 poll",
                failure="poll",
            )  # fmt: skip
            if ticket is False:
                return
        _WAITS[concert_id].append(max(0.0, time.time() - SALE_STARTS[concert_id]))
        if buy_a_seat(self, concert_id, headers, first_step=3):
            OUTCOMES[f"c{concert_id}_bought"] += 1
        else:
            # Nothing bought: give the slot back so the room admits the next in line.
            self.leave(headers)

    def leave(self, headers: dict) -> None:
        step(
            self, "DELETE", "/api/queue/tokens/current", headers=headers, name="7 leave",
            failure="leave", expect=(204,),
        )  # fmt: skip
