"""The catalog cache never shows a seat as free once its hold or sale has committed.

Real PostgreSQL and Redis, real commits (transaction=True), so the invalidation runs on commit as
it does in production.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from booking import cache
from booking import services as booking_services
from booking.models import Seat, SeatStatus
from booking.tests.catalog import cached_dates, cached_seats
from booking.tests.factories import schedule_with_seats
from concertbooking.rendering import json_body

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def schedule():
    return schedule_with_seats(5)


def _free(schedule) -> list[int]:
    seats = cached_seats(concert_id=schedule.concert_id, schedule_id=schedule.id)
    return [seat["number"] for seat in seats]


def _date_count(schedule) -> int:
    dates = cached_dates(concert_id=schedule.concert_id)
    return {d["schedule_id"]: d["available_seats"] for d in dates}.get(schedule.id, 0)


def test_reads_are_served_from_redis(schedule, django_assert_num_queries):
    assert _free(schedule) == [1, 2, 3, 4, 5]
    assert _date_count(schedule) == 5
    with django_assert_num_queries(0):
        assert _free(schedule) == [1, 2, 3, 4, 5]
        assert _date_count(schedule) == 5


def test_hold_release_and_expiry_sweep_invalidate(schedule, user):
    seat = Seat.objects.get(schedule=schedule, number=2)
    assert _free(schedule) == [1, 2, 3, 4, 5] and _date_count(schedule) == 5

    hold = booking_services.reservation_hold(user=user, seat_id=seat.id)
    assert _free(schedule) == [1, 3, 4, 5] and _date_count(schedule) == 4

    booking_services.reservation_cancel(user=user, reservation_id=hold["reservation_id"])
    assert _free(schedule) == [1, 2, 3, 4, 5] and _date_count(schedule) == 5

    past = timezone.now() - timedelta(hours=1)
    booking_services.reservation_hold(user=user, seat_id=seat.id, now=past)  # long expired
    booking_services.holds_expire()
    assert Seat.objects.get(pk=seat.pk).status == SeatStatus.AVAILABLE
    assert _free(schedule) == [1, 2, 3, 4, 5]


def test_an_expiring_hold_is_free_to_cached_readers_at_once(schedule, user, settings):
    settings.CACHE_TTL_SECONDS = 3600  # only the hold's own deadline may end the entry
    seat = Seat.objects.get(schedule=schedule, number=3)
    # A hold made 299.4 s ago under a 300 s hold length: 0.6 s left.
    almost_over = timezone.now() - timedelta(seconds=settings.HOLD_SECONDS - 0.6)
    booking_services.reservation_hold(user=user, seat_id=seat.id, now=almost_over)
    assert 3 not in _free(schedule)
    assert _date_count(schedule) == 4
    time.sleep(0.8)
    # No sweep has run and nothing was written: the cached entries ended with the hold.
    assert Seat.objects.get(pk=seat.pk).status == SeatStatus.HELD
    assert 3 in _free(schedule)
    assert _date_count(schedule) == 5


def _race_a_hold_into_a_read(schedule, user, store):
    """A reader reads the database, then a hold commits, then the reader stores what it read."""
    seat = Seat.objects.get(schedule=schedule, number=1)
    stale = [{"seat_id": seat.id, "number": 1, "row": "A", "price": 0}]

    def compute():
        worker = threading.Thread(
            target=lambda: booking_services.reservation_hold(user=user, seat_id=seat.id)
        )
        worker.start()
        worker.join()  # the hold has committed and invalidated by now
        return stale, None

    store(compute)
    return seat


def test_a_reader_racing_a_hold_cannot_leave_a_stale_entry(schedule, user):
    seat = _race_a_hold_into_a_read(
        schedule,
        user,
        # Stored where the API reads it: the rendered body of the seat list.
        lambda compute: cache.cached(
            concert_id=schedule.concert_id,
            field=f"seats.json:{schedule.id}",
            compute=lambda: (json_body(compute()[0]), None),
        ),
    )
    # The stale answer went under the generation the hold abandoned: nobody reads it again.
    assert 1 not in _free(schedule)
    assert Seat.objects.get(pk=seat.pk).status == SeatStatus.HELD


def test_control_a_plain_key_would_serve_the_stale_entry(schedule, user):
    """Without the generation, the same race leaves the held seat listed as free."""
    from django.core.cache import cache as plain

    key = f"plain-seats:{schedule.id}"

    def store(compute):
        value, _ = compute()
        plain.set(key, value)

    _race_a_hold_into_a_read(schedule, user, store)
    assert [s["number"] for s in plain.get(key)] == [1]  # the bug the generation prevents


def test_the_cache_being_down_falls_back_to_the_database(schedule, user, settings):
    from django_redis import get_redis_connection

    assert _free(schedule) == [1, 2, 3, 4, 5]
    connection = get_redis_connection("default")
    original = connection.connection_pool
    connection.connection_pool = type(original).from_url("redis://127.0.0.1:1/0")
    cache._scripts.clear()
    try:
        booking_services.reservation_hold(
            user=user, seat_id=Seat.objects.get(schedule=schedule, number=5).id
        )
        assert _free(schedule) == [1, 2, 3, 4]
    finally:
        connection.connection_pool = original
        cache._scripts.clear()


def test_a_lost_generation_key_never_brings_back_an_old_entry(schedule, user):
    """Generation keys may expire or be evicted; the next generation must still be new."""
    from django_redis import get_redis_connection

    assert _free(schedule) == [1, 2, 3, 4, 5]  # cached under generation "0"
    booking_services.reservation_hold(
        user=user, seat_id=Seat.objects.get(schedule=schedule, number=4).id
    )
    assert _free(schedule) == [1, 2, 3, 5]  # cached under the generation the hold made
    get_redis_connection("default").delete(cache._generation_key(schedule.concert_id))
    assert _free(schedule) == [1, 2, 3, 5]  # generation "0" again: its old entry is gone
    booking_services.reservation_hold(
        user=user, seat_id=Seat.objects.get(schedule=schedule, number=1).id
    )
    assert _free(schedule) == [2, 3, 5]
