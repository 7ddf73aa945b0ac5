"""Shared pieces of the load scenarios: API tokens, the catalog, the queue wait, counters.

The scenarios use only the public HTTP API. Sign-in is done before the run (`manage.py api_tokens`)
because the flow being measured starts at the queue, as in the report this project answers.
"""

import csv
import itertools
import json
import os
import random
import time
import urllib.request
from collections import Counter

from locust import FastHttpUser, events
from locust.stats import StatsEntry

TOKENS_FILE = os.environ.get("LOCUST_TOKENS_FILE", "loadtest-results/tokens.csv")
STEP_REPORT = os.environ.get("LOCUST_STEP_REPORT", "")
PAUSE_SECONDS = float(os.environ.get("LOCUST_PAUSE_SECONDS", "1.0"))
QUEUE_WAIT_TIMEOUT = float(os.environ.get("LOCUST_QUEUE_WAIT_TIMEOUT", "300"))
# Requests a scenario sends as a baseline to compare its flow with, and the flow's together.
BASELINE = "health wave"
FLOW = "all flow requests"

# Step outcomes, kept apart the way the report kept them: failures per step, contention, successes.
OUTCOMES: Counter = Counter()
CONCERT_IDS: list[int] = []
# A scenario's own figures for LOCUST_STEP_REPORT: name -> a function giving them at the end.
EXTRA_REPORT: dict = {}


# Several app servers side by side (scale-out): each virtual user sticks to one of them.
_HOSTS = itertools.cycle([h for h in os.environ.get("LOCUST_HOSTS", "").split(",") if h])


class ApiUser(FastHttpUser):
    """A virtual user on one of LOCUST_HOSTS (or --host), signed in with a pre-issued token."""

    abstract = True

    def __init__(self, environment):
        host = next(_HOSTS, None)
        if host:
            self.host = host
        super().__init__(environment)
        self.auth = {"Authorization": f"Token {next_api_token()}"}


def _tokens() -> list[str]:
    try:
        with open(TOKENS_FILE, newline="") as fh:
            return [row["token"] for row in csv.DictReader(fh)]
    except FileNotFoundError:
        return []


_TOKENS = _tokens()
_NEXT_TOKEN = itertools.cycle(_TOKENS) if _TOKENS else None


def next_api_token() -> str:
    if _NEXT_TOKEN is None:
        raise RuntimeError(f"no API tokens in {TOKENS_FILE}: run `manage.py api_tokens` first")
    return next(_NEXT_TOKEN)


@events.test_start.add_listener
def _load_catalog(environment, **_kwargs) -> None:
    """Concert ids from the public list, once, before any user starts."""
    url = f"{environment.host}/api/concerts?page_size=100"
    while url:
        with urllib.request.urlopen(url, timeout=10) as response:
            page = json.load(response)
        CONCERT_IDS.extend(row["id"] for row in page["results"])
        url = page["next"]


@events.test_stop.add_listener
def _report_outcomes(environment, **_kwargs) -> None:
    """Step outcomes and final per-endpoint figures (locust's CSV may be flushed before the end):
    each step, the flow's requests together, and the baseline's (BASELINE) apart from them."""
    summary = dict(sorted(OUTCOMES.items()))
    print("step outcomes:", json.dumps(summary))
    if not STEP_REPORT:
        return
    flow = StatsEntry(environment.stats, FLOW, "")
    steps, baseline = [], None
    for entry in environment.stats.entries.values():
        if entry.name == BASELINE:
            baseline = entry
        else:
            steps.append(entry)
            flow.extend(entry)
    endpoints = [_figures(entry) for entry in [*steps, flow] if entry.num_requests]
    report = {
        "outcomes": summary,
        "endpoints": endpoints,
        "flow": _figures(flow),
        "baseline": _figures(baseline) if baseline is not None else None,
        "extra": {name: figures() for name, figures in EXTRA_REPORT.items()},
    }
    with open(STEP_REPORT, "w") as fh:
        json.dump(report, fh, indent=2)


def _figures(entry: StatsEntry) -> dict:
    return {
        "name": entry.name,
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "avg_ms": round(entry.avg_response_time, 1),
        **{f"p{int(q * 100)}_ms": entry.get_response_time_percentile(q) for q in (0.5, 0.95, 0.99)},
        "rps": round(entry.total_rps, 1),
    }


def random_concert_id() -> int:
    return random.choice(CONCERT_IDS)


def step(user, method: str, path: str, *, name: str, failure: str, expect=(200,), **kwargs):
    """One request of a flow: the JSON body when the status is expected (None for an empty
    body), or False after counting a failure of `failure` (a step name) and marking it failed."""
    with user.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
        if response.status_code not in expect:
            response.failure(f"{name}: {response.status_code} {response.text[:100]}")
            OUTCOMES[f"fail_{failure}"] += 1
            return False
        return response.json() if response.content else None


def wait_for_admission(user) -> str | None:
    """Take a place in the queue and poll at the suggested interval until admitted."""
    state = step(
        user, "POST", "/api/queue/tokens", headers=user.auth, name="1 queue token",
        failure="queue", expect=(200, 201),
    )  # fmt: skip
    if state is False:
        return None
    headers = {**user.auth, "Queue-Token": state["token"]}
    deadline = time.monotonic() + QUEUE_WAIT_TIMEOUT
    while state["status"] != "active":
        if time.monotonic() > deadline:
            OUTCOMES["fail_queue_timeout"] += 1
            return None
        # As the waiting-room page does: the suggested interval (at most 2 s here, so the run
        # notices admission quickly), spread by +-20% so a crowd does not poll in step.
        time.sleep(min(float(state.get("poll_after_seconds") or 1), 2.0) * random.uniform(0.8, 1.2))
        state = step(
            user, "GET", "/api/queue/tokens/current", headers=headers, name="1b queue status",
            failure="queue",
        )  # fmt: skip
        if state is False:
            return None
    return headers["Queue-Token"]


# A buyer tries this many seats before giving up on a date.
HOLD_ATTEMPTS = 3
_BUY_STEPS = ("dates", "seats", "hold", "payment")


def buy_a_seat(user, concert_id: int, headers: dict, *, first_step: int) -> bool:
    """An admitted buyer's purchase, with a pause before each step: the concert's dates, a date's
    seats, a hold (another seat on a 409, up to HOLD_ATTEMPTS), the payment. The steps are named
    from `first_step` on; True once paid."""
    names = [f"{first_step + n} {step_name}" for n, step_name in enumerate(_BUY_STEPS)]
    time.sleep(PAUSE_SECONDS)
    dates = step(
        user, "GET", f"/api/concerts/{concert_id}/available-dates", headers=headers,
        name=names[0], failure="dates",
    )  # fmt: skip
    if dates is False:
        return False
    if not dates:
        OUTCOMES["contention_sold_out"] += 1
        return False
    schedule_id = random.choice(dates)["schedule_id"]
    time.sleep(PAUSE_SECONDS)

    seats = step(
        user, "GET", f"/api/concerts/{concert_id}/schedules/{schedule_id}/available-seats",
        headers=headers, name=names[1], failure="seats",
    )  # fmt: skip
    if seats is False:
        return False
    time.sleep(PAUSE_SECONDS)

    reservation_id = None
    for seat in random.sample(seats, min(HOLD_ATTEMPTS, len(seats))):
        with user.client.post(
            "/api/reservation/concerts",
            json={"seat_id": seat["seat_id"]},
            headers=headers,
            name=names[2],
            catch_response=True,
        ) as response:
            if response.status_code == 201:
                reservation_id = response.json()["reservation_id"]
                break
            if response.status_code == 409 and response.json().get("code") == "seat_unavailable":
                response.success()  # another buyer took it first: contention, not a fault
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
        user, "POST", "/api/reservation/payments", json={"reservation_id": reservation_id},
        headers=headers, name=names[3], failure="payment", expect=(201,),
    )  # fmt: skip
    return paid is not False
