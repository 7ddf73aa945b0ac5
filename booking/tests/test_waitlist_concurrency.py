"""Joining a waiting list while its date's seats come back, on real threads: a join either sees
the seat free or the seat sees the join, never neither. And one entry per user and date.

The control runs a join without the date's lock, with a pause between its sold-out check and its
insert, beside a real release: the waiter then waits behind a free seat.
"""

import threading
import time

import pytest
from django.db import transaction

from booking import services
from booking.errors import AlreadyOnWaitlist, NotSoldOut
from booking.models import Reservation, Seat, SeatStatus, WaitlistEntry, WaitlistStatus
from booking.tests.factories import UserFactory, schedule_with_seats
from booking.tests.parallel import Failed, run_parallel

pytestmark = pytest.mark.django_db(transaction=True)

RACE_WINDOW_SECONDS = 0.2
ROUNDS = 8


def naive_join(*, user, schedule_id: int, checked: threading.Event) -> None:
    """Check sold out, then insert, with no lock on the date."""
    with transaction.atomic():
        assert not Seat.objects.filter(schedule_id=schedule_id, status="available").exists()
        checked.set()
        time.sleep(RACE_WINDOW_SECONDS)
        WaitlistEntry.objects.create(user=user, schedule_id=schedule_id)


def release_after(event: threading.Event, *, user, reservation_id: int) -> None:
    event.wait(5)
    services.reservation_cancel(user=user, reservation_id=reservation_id)


def one_seat_held():
    schedule = schedule_with_seats(1)
    holder = UserFactory()
    hold = services.reservation_hold(user=holder, seat_id=schedule.seats.get().pk)
    return schedule, holder, hold["reservation_id"]


def waits_behind_a_free_seat(schedule) -> bool:
    waiting = WaitlistEntry.objects.filter(
        schedule=schedule, status=WaitlistStatus.WAITING
    ).exists()
    free = Seat.objects.filter(schedule=schedule, status=SeatStatus.AVAILABLE).exists()
    return waiting and free


def test_control_a_join_without_the_dates_lock_waits_behind_a_free_seat():
    schedule, holder, reservation_id = one_seat_held()
    checked = threading.Event()
    waiter = UserFactory()
    results = run_parallel(
        [
            lambda: naive_join(user=waiter, schedule_id=schedule.pk, checked=checked),
            lambda: release_after(checked, user=holder, reservation_id=reservation_id),
        ]
    )
    assert not [r for r in results if isinstance(r, Failed)], results
    assert waits_behind_a_free_seat(schedule)


def test_a_join_and_a_release_of_one_date_never_miss_each_other():
    for _ in range(ROUNDS):
        schedule, holder, reservation_id = one_seat_held()
        waiter = UserFactory()
        results = run_parallel(
            [
                lambda s=schedule, w=waiter: services.waitlist_join(user=w, schedule_id=s.pk),
                lambda h=holder, r=reservation_id: services.reservation_cancel(
                    user=h, reservation_id=r
                ),
            ]
        )
        joined = results[0]
        assert not waits_behind_a_free_seat(schedule)
        if isinstance(joined, Failed):
            # The release came first: the seat is free to book.
            assert isinstance(joined.exc, NotSoldOut)
            assert Seat.objects.get(schedule=schedule).status == SeatStatus.AVAILABLE
        else:
            # The join came first: the seat is held for the waiter.
            offer = WaitlistEntry.objects.get(user=waiter).offer
            assert offer.seat.schedule_id == schedule.pk
            assert Reservation.objects.get(pk=offer.pk).user_id == waiter.pk


def test_many_joins_of_one_user_make_one_entry():
    schedule, _, _ = one_seat_held()
    user = UserFactory()
    results = run_parallel(
        [lambda: services.waitlist_join(user=user, schedule_id=schedule.pk) for _ in range(16)]
    )
    joined = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Failed)]
    assert len(joined) == 1
    assert len(refused) == 15
    assert all(isinstance(r.exc, AlreadyOnWaitlist) for r in refused)
    assert WaitlistEntry.objects.filter(user=user).count() == 1
