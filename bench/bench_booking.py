"""Holds and payments: HTTP throughput as ratios to GET /api/health on the same app server,
beside the raw PostgreSQL ceiling of the same SQL statements run by pgbench at the same concurrency.
"""

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import bulk_holds, users  # noqa: E402

DATABASE, REDIS_DB = "cb_bench_booking", 11
CONCERTS, DATES, SEATS = 300, 4, 50  # 60,000 seats
CONNECTIONS = 16  # HTTP connections and pgbench clients alike
ROUNDS, SECONDS = 3, 4.0
# Requests that change state are each sent once; these are upper bounds per target, well above
# what three 4-second rounds on two cores get through.
HTTP_HOLDS = 12_000  # 3,000 users x 4 holds (the per-user limit)
HTTP_PAYMENTS = 4_000  # per payment target, one user each (paying ends the user's queue slot)
PG_PER_CLIENT = 500  # pgbench transactions per client, per script

# The statements the hold service runs (booking.services.reservation_hold) on its usual path;
# pgbench variables stand in for the values. Checked against a live capture first (scripts_check).
HOLD_SQL = """
\\set k :k + 1
\\set i :client_id * :per_client + :k
\\set sid :seat_base + :i
\\set uid :user_base + :i / 4
BEGIN;
SELECT id FROM "auth_user" WHERE id = :uid FOR NO KEY UPDATE;
SELECT COUNT(*) FROM booking_reservation WHERE expires_at > now() AND status = 'held' AND user_id = :uid;
SELECT seat.price, seat.schedule_id, schedule.concert_id, schedule.starts_at FROM booking_seat AS seat JOIN booking_concertschedule AS schedule ON schedule.id = seat.schedule_id WHERE seat.id = :sid ORDER BY 2, seat.number LIMIT 1;
UPDATE booking_reservation SET status = 'expired' WHERE expires_at <= now() AND seat_id = :sid AND status = 'held';
UPDATE booking_seat SET status = 'held', held_until = now() + interval '300 seconds', version = version + 1 WHERE id = :sid AND (status = 'available' OR (status = 'held' AND held_until <= now()));
INSERT INTO booking_reservation (user_id, seat_id, price, status, expires_at, paid_at, created_at) VALUES (:uid, :sid, 80000, 'held', now() + interval '300 seconds', NULL, now()) RETURNING id;
COMMIT;
"""  # noqa: E501

# payments.services.payment_create without an Idempotency-Key.
PAYMENT_SQL = """
\\set k :k + 1
\\set i :client_id * :per_client + :k
\\set rid :reservation_base + :i
\\set uid :user_base + :i
BEGIN;
SELECT id, user_id, seat_id, price, status, expires_at, paid_at, created_at FROM booking_reservation WHERE id = :rid AND user_id = :uid ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE \\gset r_
UPDATE booking_seat SET status = 'sold', held_until = NULL, version = version + 1 WHERE id = :r_seat_id AND status = 'held' AND held_until > now();
UPDATE booking_reservation SET status = 'paid', paid_at = now() WHERE id = :rid;
UPDATE payments_wallet SET balance = balance + -:r_price, updated_at = now() WHERE user_id = :uid AND balance >= :r_price;
SELECT id, balance FROM payments_wallet WHERE user_id = :uid LIMIT 21 \\gset w_
INSERT INTO payments_payment (reservation_id, user_id, amount, paid_at) VALUES (:rid, :uid, :r_price, now()) RETURNING id \\gset p_
INSERT INTO payments_ledgerentry (wallet_id, kind, amount, balance_after, payment_id, created_at) VALUES (:w_id, 'payment', -:r_price, :w_balance, :p_id, now()) RETURNING id;
INSERT INTO payments_outboxevent (event_type, payload, created_at, delivered_at, attempts, last_error, next_attempt_at) VALUES ('payment_completed', jsonb_build_object('payment_id', :p_id), now(), NULL, 0, '', DEFAULT) RETURNING id, next_attempt_at;
COMMIT;
"""  # noqa: E501


def statements(script: str) -> int:
    return sum(
        1
        for line in script.splitlines()
        if line and not line.startswith("\\") and line not in ("BEGIN;", "COMMIT;")
    )


def hold_specs(
    user_ids: list[int], seat_ids: list[int], headers: Callable[[int], dict]
) -> Iterator[dict]:
    """One hold request per seat (each a fresh 201), users taken in turn."""
    for n, seat in enumerate(seat_ids):
        yield {
            "method": "POST",
            "path": "/api/reservation/concerts",
            # Round-robin over users: one user's holds queue on their row lock, so spread them.
            "headers": headers(user_ids[n % len(user_ids)]),
            "body": {"seat_id": seat},
        }


def payment_specs(
    users_and_holds: list[tuple[int, int]], headers: Callable[[int], dict], *, keyed: bool
) -> Iterator[dict]:
    """One payment per (user, held reservation); with `keyed`, each with its own key."""
    for n, (uid, rid) in enumerate(users_and_holds):
        extra = {"Idempotency-Key": f"bench-{n}"} if keyed else {}
        yield {
            "method": "POST",
            "path": "/api/reservation/payments",
            "headers": {**headers(uid), **extra},
            "body": {"reservation_id": rid},
        }


def batch(source: Iterator[dict], size: int) -> Callable[..., list[dict]]:
    """Fresh specs for each round: the next `size` from `source`, or `limit` if fewer."""

    def take(limit: int | None = None) -> list[dict]:
        count = size if limit is None else min(size, limit)
        return [spec for _, spec in zip(range(count), source, strict=False)]

    return take


def captured_statements(fn) -> list[str]:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    # Inside an outer block the service's own transaction is a savepoint, so its after-commit
    # work (Redis, the broker, reads after the fact) runs after the capture, not in it.
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        fn()
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"] not in ("BEGIN", "COMMIT") and not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]


def pgbench(script: str, **variables: int) -> dict:
    """Run `script` with CONNECTIONS clients, PG_PER_CLIENT transactions each; tps and latency."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(script)
    defines = [f"-D{name}={value}" for name, value in {"k": -1, **variables}.items()]
    out = subprocess.run(
        [
            shutil.which("pgbench") or "pgbench",
            "-n",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-c",
            str(CONNECTIONS),
            "-j",
            "2",
            "-t",
            str(PG_PER_CLIENT),
            "-f",
            fh.name,
            *defines,
            DATABASE,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    Path(fh.name).unlink()
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {
        "tps": float(re.search(r"tps = ([\d.]+) \(without initial", out).group(1)),
        "latency_ms": float(re.search(r"latency average = ([\d.]+) ms", out).group(1)),
        "failed": int(failed.group(1)) if failed else 0,
    }


def scripts_check(*, seat_id: int) -> None:
    """Exit unless HOLD_SQL and PAYMENT_SQL have as many statements as the services run (one
    hold and its payment, captured), so the ceiling measures the real work. First thing in a
    run, so a service that changed costs seconds, not the HTTP rounds before the ceiling."""
    from django.contrib.auth import get_user_model

    from booking.services import reservation_hold
    from payments.services import payment_create, wallets_seed

    buyer = get_user_model().objects.get(pk=users("x", 1)[0])
    wallets_seed(user_ids=[buyer.pk], balance=1_000_000)
    held = {}
    captured = {
        "HOLD_SQL": (
            HOLD_SQL,
            captured_statements(lambda: held.update(reservation_hold(user=buyer, seat_id=seat_id))),
        ),
        "PAYMENT_SQL": (
            PAYMENT_SQL,
            captured_statements(
                lambda: payment_create(user=buyer, reservation_id=held["reservation_id"])
            ),
        ),
    }
    for name, (script, sql) in captured.items():
        if len(sql) != statements(script):
            sys.exit(
                f"{name} has {statements(script)} statements, the service ran {len(sql)}; "
                "write the script after them:\n" + "\n".join(sql)
            )


def main() -> None:
    if not shutil.which("pgbench"):
        sys.exit("pgbench not found (Debian: apt-get install postgresql-client)")
    harness.configure(database=DATABASE, redis_db=REDIS_DB)
    harness.prepare_database(fresh=True)
    harness.make_client_flush()
    harness.setup_django()
    from django.db import connection

    from booking.models import Reservation, ReservationStatus, Seat, SeatStatus
    from booking.services import catalog_seed
    from payments.services import wallets_seed

    made = catalog_seed(concerts=CONCERTS, dates_per_concert=DATES, seats_per_date=SEATS)
    seat_ids = iter(Seat.objects.order_by("id").values_list("id", flat=True))

    def take(n: int) -> list[int]:
        return [next(seat_ids) for _ in range(n)]

    scripts_check(seat_id=take(1)[0])

    # --- HTTP fixtures: buyers with API tokens, admitted through the real queue services.
    hold_users = users("h", HTTP_HOLDS // 4)
    pay_users = users("p", 2 * HTTP_PAYMENTS)
    wallets_seed(user_ids=pay_users, balance=1_000_000)
    http_hold_seats = take(HTTP_HOLDS)
    pay_reservations = bulk_holds(pay_users, take(len(pay_users)))
    keys = harness.api_keys(hold_users + pay_users)
    queue_tokens = harness.admit_all(hold_users + pay_users)

    def headers(uid: int) -> dict:
        return {"Authorization": f"Token {keys[uid]}", "Queue-Token": queue_tokens[uid]}

    hold_source = hold_specs(hold_users, http_hold_seats, headers)
    pairs = list(zip(pay_users, pay_reservations, strict=True))
    plain_payments = payment_specs(pairs[:HTTP_PAYMENTS], headers, keyed=False)
    keyed_payments = payment_specs(pairs[HTTP_PAYMENTS:], headers, keyed=True)

    per_round = HTTP_HOLDS // ROUNDS
    targets = {
        "hold (201)": batch(hold_source, per_round),
        "payment (201)": batch(plain_payments, HTTP_PAYMENTS // ROUNDS),
        "payment + Idempotency-Key": batch(keyed_payments, HTTP_PAYMENTS // ROUNDS),
        "GET /api/reservations": [
            {"method": "GET", "path": "/api/reservations", "headers": headers(uid)}
            for uid in hold_users[:200]
        ],
    }
    summary = harness.measure(
        targets,
        workers=2,
        rounds=ROUNDS,
        duration=SECONDS,
        concurrency=CONNECTIONS,
        once={"hold (201)", "payment (201)", "payment + Idempotency-Key"},
    )
    harness.print_table(
        f"holds and payments over HTTP: 2 web workers, {CONNECTIONS} connections, "
        f"{made['seats']:,} seats",
        summary,
    )

    # --- The same statements straight into PostgreSQL (checked against the services above).
    total = CONNECTIONS * PG_PER_CLIENT
    pg_hold_users = users("g", total // 4 + 1)
    pg_hold_seats = take(total)
    pg_pay_users = users("q", total)
    wallets_seed(user_ids=pg_pay_users, balance=1_000_000)
    pg_pay_reservations = bulk_holds(pg_pay_users, take(total))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    ceiling = {
        "hold": pgbench(
            HOLD_SQL,
            per_client=PG_PER_CLIENT,
            seat_base=pg_hold_seats[0],
            user_base=pg_hold_users[0],
        ),
        "payment": pgbench(
            PAYMENT_SQL,
            per_client=PG_PER_CLIENT,
            reservation_base=pg_pay_reservations[0],
            user_base=pg_pay_users[0],
        ),
    }
    assert Reservation.objects.filter(seat_id__in=pg_hold_seats).count() == total
    assert Seat.objects.filter(pk__in=pg_hold_seats, status=SeatStatus.HELD).count() == total
    assert (
        Reservation.objects.filter(
            pk__in=pg_pay_reservations, status=ReservationStatus.PAID
        ).count()
        == total
    )

    print(f"\nraw PostgreSQL ceiling (pgbench, {CONNECTIONS} clients, {total:,} transactions each)")
    print(f"{'statements':<28}{'tps':>10}{'avg ms':>9}{'HTTP/ceiling':>14}")
    for name, target in (("hold", "hold (201)"), ("payment", "payment (201)")):
        row = ceiling[name]
        share = summary[target]["rps"] / row["tps"]
        print(f"{name:<28}{row['tps']:>10.0f}{row['latency_ms']:>9.2f}{share:>13.1%}")
    print(f"\nhealth baseline: {summary['health']['rps']:.0f} req/s")
    harness.make_client_flush()


if __name__ == "__main__":
    main()
