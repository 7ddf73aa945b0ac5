"""The booking flow's API calls side by side in one run on one app server, each as a ratio to
GET /api/health and to its own floor (bench/urls.py): the cheapest endpoint doing the same kind
of I/O through the same stack. The calls: token issue and status, available dates and seats,
hold, payment, and the waiting room's own poll as its page sends it (a session cookie)."""

import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.bench_booking import batch, captured_statements, hold_specs, payment_specs  # noqa: E402
from bench.bench_queue import AHEAD, queue_targets  # noqa: E402

# Overridable, so a profile (bench/profile_api.py) can run beside a benchmark.
DATABASE = os.environ.get("BENCH_API_DATABASE") or "cb_bench_api"
REDIS_DB = int(os.environ.get("BENCH_API_REDIS_DB") or 12)
# The project's settings with the floor endpoints routed in; nothing else differs.
SETTINGS = "bench.settings"
CONCERTS, DATES, SEATS = 300, 4, 50  # 60,000 seats
# The catalog reads ask about concerts no hold or payment touches, so they measure the cached
# read (a hold drops its concert's cached lists, and the next read recomputes them).
READ_CONCERTS = 40
READERS = 200
# The `make serve` default (WEB_CONCURRENCY, 3): the server as it is deployed.
WORKERS = int(os.environ.get("BENCH_WORKERS") or 3)
CONNECTIONS = 16  # as bench_queue and bench_booking
# Each round measures health, a floor and the floor's calls, floor by floor: 19 loads a round,
# some four minutes a run with the setup and the callers' first calls.
ROUNDS, SECONDS = 3, 2.5
# Requests that change state are each sent once; these are upper bounds per run, above what
# three rounds on two cores get through.
ISSUES = 12_000
# Few enough that every load polls each place, so none goes past QUEUE_ABANDON_SECONDS.
POLLERS = 1_000
HOLDS = 12_000  # 3,000 users x 4 holds (the per-user limit)
PAYMENTS = 9_000  # one buyer each (paying ends the buyer's queue slot)

ISSUE, STATUS, DATES_ROW, SEATS_ROW = (
    "token issue (201)",
    "token status",
    "available dates",
    "available seats",
)
HOLD, PAYMENT, SESSION_POLL = "hold (201)", "payment (201)", "waiting room poll (session)"
# Each call's floor, measured just before it in every round.
FLOORS = {
    ISSUE: "floor: issue",
    STATUS: "floor: status",
    DATES_ROW: "floor: catalog read",
    SEATS_ROW: "floor: catalog read",
    HOLD: "floor: hold",
    PAYMENT: "floor: payment",
    SESSION_POLL: "floor: session poll",
}
# Minimum ratios to health, and to each call's own floor.
GOALS = {
    ISSUE: 0.75,
    STATUS: 0.75,
    DATES_ROW: 0.75,
    SEATS_ROW: 0.65,
    HOLD: 0.40,
    PAYMENT: 0.35,
    SESSION_POLL: 0.6,
}
FLOOR_GOALS = dict.fromkeys(FLOORS, 0.9)
ONCE = {ISSUE, HOLD, PAYMENT}
# A caller called this recently is not called again before a load. A call that finds the entry
# does not renew it, so calling more often would not help: an entry (CALLER_CACHE_SECONDS, a
# minute by default) lapses at most once a minute per caller mid-load, as on the site.
WARM_SECONDS = 30.0
_warmed: dict[tuple, float] = {}


_LOCKING = re.compile(r"\bFOR (NO KEY |KEY )?(UPDATE|SHARE)\b", re.IGNORECASE)


def statement_shape(statements: list[str]) -> str:
    """The floor's shape of a transaction's statements (bench/urls.py): l for a locking read,
    r for another read, w for a write."""
    shape = ""
    for sql in statements:
        if not sql.lstrip().upper().startswith("SELECT"):
            shape += "w"
        else:
            shape += "l" if _LOCKING.search(sql) else "r"
    return shape


def write_shapes() -> dict[str, str]:
    """The hold's and the payment's statements, captured from one of each through the services
    the views call, as floor shapes: {"hold": ..., "payment": ...}."""
    from django.contrib.auth import get_user_model

    from booking.models import Seat
    from booking.services import reservation_hold
    from payments.services import payment_create, wallets_seed

    buyer = get_user_model().objects.get(pk=harness.users("bx", 1)[0])
    wallets_seed(user_ids=[buyer.pk], balance=1_000_000)
    # The last seat: the hold and payment targets below take seats of other concerts.
    seat = Seat.objects.order_by("-id").values_list("id", flat=True).first()
    held = {}
    hold = captured_statements(lambda: held.update(reservation_hold(user=buyer, seat_id=seat)))
    pay = captured_statements(
        lambda: payment_create(user=buyer, reservation_id=held["reservation_id"])
    )
    return {"hold": statement_shape(hold), "payment": statement_shape(pay)}


def build_targets() -> tuple[dict, dict[str, str]]:
    """A fresh bench database with the catalog, buyers and queue; the targets' specs (calls and
    floors, in measuring order) and what each floor does, one line each.

    State-changing targets are callables giving the next round's specs (each request once).
    """
    harness.configure(database=DATABASE, redis_db=REDIS_DB)
    harness.prepare_database(fresh=True)
    harness.make_client_flush()
    # The settings the server runs (below), so bench/profile_api.py can route the floors too.
    harness.setup_django(DJANGO_SETTINGS_MODULE=SETTINGS)
    from django.db import connection

    from booking.models import ConcertSchedule, Seat
    from booking.services import catalog_seed
    from payments.services import wallets_seed

    catalog_seed(concerts=CONCERTS, dates_per_concert=DATES, seats_per_date=SEATS)
    shapes = write_shapes()
    schedules = list(ConcertSchedule.objects.order_by("id").values_list("concert_id", "id"))
    read_concerts = sorted({concert_id for concert_id, _ in schedules})[-READ_CONCERTS:]
    read_schedules = [(c, s) for c, s in schedules if c in read_concerts]
    seats = iter(
        Seat.objects.exclude(schedule__concert_id__in=read_concerts)
        .order_by("id")
        .values_list("id", flat=True)
    )

    # Buyers first, admitted all at once; the waiting crowd of the queue targets comes after.
    holders = harness.users("bh", HOLDS // 4)
    payers = harness.users("bp", PAYMENTS)
    readers = harness.users("br", READERS)
    wallets_seed(user_ids=payers, balance=1_000_000)
    hold_seats = [next(seats) for _ in range(HOLDS)]
    reservations = harness.bulk_holds(payers, [next(seats) for _ in range(PAYMENTS)])
    keys = harness.api_keys(holders + payers + readers)
    queue_tokens = harness.admit_all(holders + payers + readers)

    def headers(uid: int) -> dict:
        return {"Authorization": f"Token {keys[uid]}", "Queue-Token": queue_tokens[uid]}

    def floor(method: str, path: str) -> list[dict]:
        # Signed in as the readers, like the catalog reads: one user row each for the writes.
        return [{"method": method, "path": path, "headers": headers(uid)} for uid in readers]

    dates = [
        {
            "method": "GET",
            "path": f"/api/concerts/{concert_id}/available-dates",
            "headers": headers(readers[n % READERS]),
        }
        for n, concert_id in enumerate(read_concerts * 5)
    ]
    seat_lists = [
        {
            "method": "GET",
            "path": f"/api/concerts/{concert_id}/schedules/{schedule_id}/available-seats",
            "headers": headers(readers[n % READERS]),
        }
        for n, (concert_id, schedule_id) in enumerate(read_schedules)
    ]
    payments = payment_specs(list(zip(payers, reservations, strict=True)), headers, keyed=False)
    holds = batch(hold_specs(holders, hold_seats, headers), HOLDS // ROUNDS)
    pays = batch(payments, PAYMENTS // ROUNDS)

    # Fresh planner statistics after the bulk load, as autovacuum keeps them on a live site:
    # with none, the per-user hold count scans every live hold through ix_reservation_held_expires.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    # Last: the pollers' waiting places must be polled within QUEUE_ABANDON_SECONDS.
    queue = queue_targets(issue_users=ISSUES, status_users=POLLERS, rounds=ROUNDS)
    polls = session_polls()
    targets = {
        FLOORS[ISSUE]: floor("POST", "/bench/floor/queue-call"),
        ISSUE: queue[ISSUE],
        FLOORS[STATUS]: floor("GET", "/bench/floor/queue-call"),
        STATUS: queue[STATUS],
        FLOORS[DATES_ROW]: floor("GET", "/bench/floor/gated-read"),
        DATES_ROW: dates,
        SEATS_ROW: seat_lists,
        FLOORS[HOLD]: floor("POST", f"/bench/floor/gated-write/{shapes['hold']}"),
        HOLD: holds,
        FLOORS[PAYMENT]: floor("POST", f"/bench/floor/gated-write/{shapes['payment']}"),
        PAYMENT: pays,
        # The poll's own requests on a floor that ignores the queue token.
        FLOORS[SESSION_POLL]: [{**spec, "path": "/bench/floor/queue-call"} for spec in polls],
        SESSION_POLL: polls,
    }
    floors = {
        FLOORS[ISSUE]: "POST, API token, one EVALSHA on the queue's client",
        FLOORS[STATUS]: "GET, API token, one EVALSHA on the queue's client",
        FLOORS[DATES_ROW]: "GET, API token, one EVALSHA on the queue's client (the gate), "
        "one on the cache's (the cached read)",
        FLOORS[HOLD]: "POST, API token, one EVALSHA, then a transaction shaped "
        f"{shapes['hold']} (the hold service's statements; l lock, r read, w write)",
        FLOORS[PAYMENT]: "POST, API token, one EVALSHA, then a transaction shaped "
        f"{shapes['payment']} (the payment service's statements)",
        FLOORS[SESSION_POLL]: "GET, the poll's session and CSRF cookies (session and user), "
        "one EVALSHA on the queue's client",
    }
    return targets, floors


def session_polls() -> list[dict]:
    """The token status row's waiting users polling as the waiting room's script does
    (static/js/waiting-room.js): their browser's cookies, the queue token in the Queue-Token
    header, `Accept: application/json`, no API token."""
    from django.contrib.auth import get_user_model

    from queueing.services import queue_token_issue
    from queueing.web import ROOM_KEY, SESSION_KEY, token_room

    pollers = list(
        get_user_model()
        .objects.filter(username__startswith="qs")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    # The user's live place: issuing again hands back the same token.
    tokens = {uid: queue_token_issue(user_id=uid).token for uid in pollers}
    # The session as joining the queue from a page leaves it: the token is kept there too,
    # under its room, and that room is the one the pages last entered.
    cookies = harness.browser_sessions(
        pollers,
        {
            uid: {SESSION_KEY: {token_room(token): token}, ROOM_KEY: token_room(token)}
            for uid, token in tokens.items()
        },
    )
    return [
        {
            "method": "GET",
            "path": "/api/queue/tokens/current",
            "headers": {
                "Cookie": cookies[uid],
                "Accept": "application/json",
                "Queue-Token": tokens[uid],
            },
        }
        for uid in pollers
    ]


def first_calls(specs: list[dict]) -> list[dict]:
    """One call of the cheapest signed-in floor for each caller of `specs` not called lately,
    so the caller cache holds them as a flow's earlier calls leave it: a buyer's hold follows
    their polls and reads by seconds. Bench users are fresh, and each one-off call (an issue, a
    hold, a payment) would otherwise be its caller's first, measuring a cache miss that neither
    the flow nor the floors pay."""
    now = time.monotonic()
    calls = []
    for spec in specs:
        headers = spec.get("headers", {})
        caller = {name: headers[name] for name in ("Authorization", "Cookie") if name in headers}
        identity = tuple(sorted(caller.items()))
        if caller and now - _warmed.get(identity, -WARM_SECONDS) >= WARM_SECONDS:
            _warmed[identity] = now
            calls.append({"method": "GET", "path": "/bench/floor/queue-call", "headers": caller})
    return calls


def main() -> None:
    targets, floors = build_targets()
    summary = harness.measure(
        targets,
        workers=WORKERS,
        rounds=ROUNDS,
        duration=SECONDS,
        concurrency=CONNECTIONS,
        once=ONCE,
        floors=FLOORS,
        warm_up=first_calls,
        DJANGO_SETTINGS_MODULE=SETTINGS,
    )
    harness.print_table(
        f"booking flow API: {WORKERS} web workers, {CONNECTIONS} connections, "
        f"{CONCERTS * DATES * SEATS:,} seats, {AHEAD:,} waiting in the queue; "
        f"median of {ROUNDS} rounds",
        summary,
        goals=GOALS,
        floor_goals=FLOOR_GOALS,
    )
    print("\nfloors (bench/urls.py); before each load every caller is in the caller cache:")
    for name, what in floors.items():
        print(f"  {name:<22} {what}")
    missed = harness.goals_missed(summary, GOALS, FLOOR_GOALS)
    total = len(GOALS) + len(FLOOR_GOALS)
    print(f"\ngoals met: {total - len(missed)} of {total}")
    for line in missed:
        print(f"  missed: {line}")
    harness.make_client_flush()


if __name__ == "__main__":
    main()
