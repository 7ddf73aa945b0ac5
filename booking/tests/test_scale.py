"""At a real on-sale's scale (a million seats) the catalog reads stay on indexes."""

import time

import pytest
from django.db import connection

from booking import selectors
from booking.models import ConcertSchedule, Seat
from booking.services import catalog_seed

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _plan(queryset) -> str:
    return queryset.explain()


@pytest.fixture
def million_seats():
    started = time.monotonic()
    made = catalog_seed(concerts=5000, dates_per_concert=4, seats_per_date=50)
    seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE booking_seat, booking_concertschedule, booking_concert")
    return made, seconds


def test_catalog_queries_use_indexes_at_a_million_seats(million_seats):
    made, seconds = million_seats
    assert made["seats"] == 1_000_000
    assert Seat.objects.count() == 1_000_000
    # The bulk load is part of the contract ("well under a minute"); generous for a shared box.
    assert seconds < 60, f"seeding a million seats took {seconds:.1f}s"

    schedule = ConcertSchedule.objects.order_by("id")[2500]
    dates_plan = _plan(selectors.available_dates_queryset(concert_id=schedule.concert_id))
    seats_plan = _plan(selectors.available_seats_queryset(schedule_id=schedule.id))
    for plan in (dates_plan, seats_plan):
        assert "Seq Scan on booking_seat" not in plan, plan
        assert "uk_schedule_id_seat_num" in plan, plan
    assert "Seq Scan on booking_concertschedule" not in dates_plan, dates_plan

    # And the selectors themselves answer correctly at that size.
    dates = selectors.concert_available_dates(concert_id=schedule.concert_id)
    assert len(dates) == 4 and all(d["available_seats"] == 50 for d in dates)
    seats = selectors.schedule_available_seats(
        concert_id=schedule.concert_id, schedule_id=schedule.id
    )
    assert [s["number"] for s in seats] == list(range(1, 51))
