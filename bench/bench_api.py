"""The booking flow's six API calls side by side in one run, as ratios to GET /api/health on one
gunicorn server: token issue and status, available dates and seats, hold and payment. Beside them,
the floors (bench/urls.py): the cheapest endpoints doing one kind of I/O each, which bound what a
flow call doing that I/O can score through the whole stack on this machine; and two of the calls
sent down the whole stack, beside their fast-path figures."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.bench_booking import batch, hold_specs, payment_specs  # noqa: E402
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
# The `make serve` default (gunicorn.conf.py: WEB_CONCURRENCY or 3): the server as it is deployed.
WORKERS = int(os.environ.get("BENCH_WORKERS") or 3)
CONNECTIONS = 16  # as bench_queue and bench_booking
ROUNDS, SECONDS = 3, 4.0
# Requests that change state are each sent once; these are upper bounds per round, above what
# 4 seconds on two cores get through.
ISSUES = 30_000
POLLERS = 2_000
HOLDS = 18_000  # 4,500 users x 4 holds (the per-user limit)
PAYMENTS = 18_000  # one buyer each (paying ends the buyer's queue slot)
# Holds and payments are each sent down both paths (the fast path and the whole stack), drawn
# from one stream of fresh requests: per round and path, a share of the total.
WRITE_BATCHES = 2 * ROUNDS

GOALS = {
    "token issue (201)": 0.8,
    "token status": 0.85,
    "available dates": 0.8,
    "available seats": 0.7,
    "hold (201)": 0.5,
    "payment (201)": 0.4,
}


def build_targets() -> dict:
    """A fresh bench database with the catalog, buyers and queue, and the six targets' specs.

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
    holds = batch(hold_specs(holders, hold_seats, headers), HOLDS // WRITE_BATCHES)
    pays = batch(payments, PAYMENTS // WRITE_BATCHES)

    def floor(path: str, *, signed_in: bool = False) -> list[dict]:
        return [
            {
                "method": "GET",
                "path": path.format(uid=uid),
                **({"headers": headers(uid)} if signed_in else {}),
            }
            for uid in readers
        ]

    # Fresh planner statistics after the bulk load, as autovacuum keeps them on a live site:
    # with none, the per-user hold count scans every live hold through ix_reservation_held_expires.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    # Last: the pollers' waiting places must be polled within QUEUE_ABANDON_SECONDS.
    queue = queue_targets(issue_users=ISSUES, status_users=POLLERS, rounds=ROUNDS)
    return {
        **queue,
        "available dates": dates,
        "available seats": seat_lists,
        "hold (201)": holds,
        "payment (201)": pays,
        # Authenticated floors sign in as the readers, like the catalog reads, so each worker's
        # token memory is warm; the write touches a reader's own user row (one row each).
        "floor: one Redis call": floor("/bench/floor/redis"),
        "floor: auth": floor("/bench/floor/auth", signed_in=True),
        "floor: auth + one Redis call": floor("/bench/floor/auth-redis", signed_in=True),
        "floor: one PostgreSQL query": floor("/bench/floor/postgres"),
        "floor: one write transaction": floor("/bench/floor/postgres-write/{uid}"),
        # Authentication, a Redis call, a one-statement write, a Redis call: a hold's I/O alone.
        "floor: a hold's I/O": floor("/bench/floor/hold-io/{uid}", signed_in=True),
        # The same calls sent down the whole stack: a cookie makes a call one the fast path
        # (concertbooking.fastpath) leaves alone, and changes nothing else about its answer.
        "token status, whole stack": whole_stack(queue["token status"]),
        "available dates, whole stack": whole_stack(dates),
        # The waiting room's own poll: a signed-in browser's session cookie, no API token.
        "token status, browser": browser_polls(),
        # Last, so the token status rows stay as far apart as the pollers' places allow.
        "hold (201), whole stack": lambda: whole_stack(holds()),
        "payment (201), whole stack": lambda: whole_stack(pays()),
    }


def browser_polls() -> list[dict]:
    """The token status row's waiting users polling as the waiting room's script does: their
    session cookie and queue token, `Accept: application/json` (static/js/waiting-room.js)."""
    from django.contrib.auth import get_user_model

    from queueing.services import queue_token_issue

    pollers = list(
        get_user_model()
        .objects.filter(username__startswith="qs")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    cookies = harness.browser_sessions(pollers)
    return [
        {
            "method": "GET",
            "path": "/api/queue/tokens/current",
            "headers": {
                "Cookie": f"sessionid={cookies[uid]}",
                "Accept": "application/json",
                # The user's live place: issuing again hands back the same token.
                "Queue-Token": queue_token_issue(user_id=uid).token,
            },
        }
        for uid in pollers
    ]


def whole_stack(specs: list[dict]) -> list[dict]:
    cookie = {"Cookie": "bench=whole-stack"}
    return [{**spec, "headers": {**spec["headers"], **cookie}} for spec in specs]


ONCE = {
    "token issue (201)",
    "hold (201)",
    "payment (201)",
    "hold (201), whole stack",
    "payment (201), whole stack",
}


def main() -> None:
    targets = build_targets()
    summary = harness.measure(
        targets,
        workers=WORKERS,
        rounds=ROUNDS,
        duration=SECONDS,
        concurrency=CONNECTIONS,
        once=ONCE,
        DJANGO_SETTINGS_MODULE=SETTINGS,
    )
    harness.print_table(
        f"booking flow API: {WORKERS} gunicorn workers, {CONNECTIONS} connections, "
        f"{CONCERTS * DATES * SEATS:,} seats, {AHEAD:,} waiting in the queue",
        summary,
        goals=GOALS,
    )
    missed = [name for name, goal in GOALS.items() if summary[name]["ratio"] < goal]
    print(f"\ngoals met: {len(GOALS) - len(missed)} of {len(GOALS)}")
    harness.make_client_flush()


if __name__ == "__main__":
    main()
