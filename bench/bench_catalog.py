"""Catalog reads at a million seats: plans and timings with the seat key, and without it."""

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

CONCERTS, DATES, SEATS = 5000, 4, 50  # 20,000 dates x 50 seats = 1,000,000 seats
SAMPLES = 200


def timed(fn, args_list) -> float:
    """Median milliseconds of fn(*args) over the samples."""
    times = []
    for args in args_list:
        started = time.perf_counter()
        fn(*args)
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def main() -> None:
    harness.configure(database="cb_bench_catalog", redis_db=7)
    harness.prepare_database(fresh=True)
    harness.setup_django()
    from django.db import connection, transaction

    from booking import selectors
    from booking.models import ConcertSchedule
    from booking.services import catalog_seed

    started = time.perf_counter()
    made = catalog_seed(concerts=CONCERTS, dates_per_concert=DATES, seats_per_date=SEATS)
    seed_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE booking_seat")
        cursor.execute("ANALYZE booking_concertschedule")
    print(f"seeded {made['seats']:,} seats in {seed_seconds:.1f} s (COPY)")

    rng = random.Random(1)
    pairs = list(ConcertSchedule.objects.values_list("concert_id", "id"))
    sample = [rng.choice(pairs) for _ in range(SAMPLES)]
    date_args = [(c,) for c, _ in sample]
    seat_args = list(sample)

    def dates(concert_id):
        return selectors.concert_available_dates(concert_id=concert_id)

    def seats(concert_id, schedule_id):
        return selectors.schedule_available_seats(concert_id=concert_id, schedule_id=schedule_id)

    def explain(sql_args) -> str:
        concert_id, schedule_id = sql_args
        with connection.cursor() as cursor:
            plans = []
            for qs in (
                selectors.available_dates_queryset(concert_id=concert_id),
                selectors.available_seats_queryset(schedule_id=schedule_id),
            ):
                sql, params = qs.query.sql_with_params()
                cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) " + sql, params)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        return plans

    results = {}
    for label in ("with uk_schedule_id_seat_num", "without the seat key"):
        with transaction.atomic():
            if label.startswith("without"):
                with connection.cursor() as cursor:
                    cursor.execute(
                        "ALTER TABLE booking_seat DROP CONSTRAINT uk_schedule_id_seat_num"
                    )
            for args in sample[:20]:  # warm the cache so both runs read from memory
                dates(*args[:1])
                seats(*args)
            plans = explain(sample[0])
            results[label] = {
                "dates_ms": timed(dates, date_args),
                "seats_ms": timed(seats, seat_args),
                "plans": plans,
            }
            transaction.set_rollback(True)  # the key comes back with the rollback

    with_key, without = results["with uk_schedule_id_seat_num"], results["without the seat key"]
    print(f"\nmedian of {SAMPLES} calls through the selectors (ms)")
    print(f"{'query':<18}{'with key':>10}{'without':>10}{'ratio':>8}")
    for name in ("dates", "seats"):
        a, b = with_key[f"{name}_ms"], without[f"{name}_ms"]
        print(f"{name:<18}{a:>10.2f}{b:>10.2f}{b / a:>7.0f}x")
    for label, row in results.items():
        print(f"\n--- plans {label}")
        for plan in row["plans"]:
            print(plan, "\n")


if __name__ == "__main__":
    main()
