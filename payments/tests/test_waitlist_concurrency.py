"""Seats of one sold-out date coming back all at once (refunds, releases, sweeps) with a waiting
list: each goes to exactly one person, nobody gets two, and the list is served in order.

A control first runs a naive offer step (the next in line read without a lock) on the same
threads and shows it offering one person several seats.
"""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from booking import services as booking_services
from booking.models import (
    Reservation,
    ReservationStatus,
    Seat,
    SeatStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from booking.tests.factories import UserFactory, schedule_with_seats
from booking.tests.parallel import Failed, run_parallel
from payments import services
from payments.tests.conftest import fund

pytestmark = pytest.mark.django_db(transaction=True)

# Long enough that every thread reads the head of the line before any writes.
RACE_WINDOW_SECONDS = 0.05


def naive_offer(*, seat_id: int) -> int | None:
    """The bug the offer step must not have: read the next in line, then offer."""
    with transaction.atomic():
        entry = (
            WaitlistEntry.objects.filter(status=WaitlistStatus.WAITING)
            .order_by("created_at", "id")
            .first()
        )
        if entry is None:
            return None
        time.sleep(RACE_WINDOW_SECONDS)
        expires_at = timezone.now() + timedelta(minutes=30)
        Seat.objects.filter(pk=seat_id).update(status=SeatStatus.HELD, held_until=expires_at)
        offer = Reservation.objects.create(
            user_id=entry.user_id, seat_id=seat_id, price=1, expires_at=expires_at
        )
        WaitlistEntry.objects.filter(pk=entry.pk).update(
            status=WaitlistStatus.OFFERED, offer=offer, offered_at=timezone.now()
        )
        return entry.user_id


def waiting_list(schedule, people: int) -> list:
    users = UserFactory.create_batch(people)
    for user in users:
        booking_services.waitlist_join(user=user, schedule_id=schedule.pk)
    return users


def test_control_reading_the_next_in_line_without_a_lock_offers_one_person_many_seats():
    schedule = schedule_with_seats(8)
    # Sold out while the list forms, then every seat given back at once.
    Seat.objects.filter(schedule=schedule).update(status=SeatStatus.SOLD)
    line = waiting_list(schedule, 8)
    seat_ids = list(Seat.objects.filter(schedule=schedule).values_list("pk", flat=True))
    Seat.objects.filter(pk__in=seat_ids).update(status=SeatStatus.AVAILABLE)

    offered_to = run_parallel([lambda s=s: naive_offer(seat_id=s) for s in seat_ids])

    assert not [r for r in offered_to if isinstance(r, Failed)]
    live_offers = Counter(
        Reservation.objects.filter(status=ReservationStatus.HELD).values_list("user_id", flat=True)
    )
    # One person holds several offered seats while others in line got none.
    assert max(live_offers.values()) > 1
    assert len(live_offers) < len(line)


def test_seats_returned_together_go_to_one_person_each_in_line_order():
    refunds, releases, run_outs, people = 8, 8, 8, 30
    seats = refunds + releases + run_outs
    schedule = schedule_with_seats(seats)
    seat_ids = list(
        Seat.objects.filter(schedule=schedule).order_by("number").values_list("pk", flat=True)
    )
    paid, released, ran_out = [], [], []
    for index, seat_id in enumerate(seat_ids):
        buyer = UserFactory()
        hold = booking_services.reservation_hold(user=buyer, seat_id=seat_id)
        if index < refunds:
            fund(buyer, hold["price"])
            services.payment_create(user=buyer, reservation_id=hold["reservation_id"])
            paid.append(hold["reservation_id"])
        elif index < refunds + releases:
            released.append((buyer, hold["reservation_id"]))
        else:
            ran_out.append(hold["reservation_id"])
    line = waiting_list(schedule, people)
    # The run-out holds' deadline passes; the sweeps below find them.
    past = timezone.now() - timedelta(seconds=1)
    Reservation.objects.filter(pk__in=ran_out).update(expires_at=past)
    Seat.objects.filter(reservations__pk__in=ran_out).update(held_until=past)

    calls = (
        [lambda r=r: services.payment_refund(reservation_id=r) for r in paid]
        + [
            lambda b=b, r=r: booking_services.reservation_cancel(user=b, reservation_id=r)
            for b, r in released
        ]
        # Several sweeps at once, each taking one hold per batch so they interleave.
        + [lambda: booking_services.holds_expire(batch_size=1) for _ in range(4)]
    )
    results = run_parallel(calls)

    assert not [r for r in results if isinstance(r, Failed)], results
    offers = list(
        Reservation.objects.filter(status=ReservationStatus.HELD).values("user_id", "seat_id")
    )
    # Every returned seat is offered, each to one person, and nobody has two.
    assert sorted(offer["seat_id"] for offer in offers) == sorted(seat_ids)
    assert len({offer["user_id"] for offer in offers}) == seats
    entries = {entry.user_id: entry for entry in WaitlistEntry.objects.select_related("offer")}
    for offer in offers:
        entry = entries[offer["user_id"]]
        assert entry.status == WaitlistStatus.OFFERED
        assert entry.offer.seat_id == offer["seat_id"]
    # The first `seats` in line got them; the rest still wait, in the order they joined.
    assert {user.pk for user in line[:seats]} == {offer["user_id"] for offer in offers}
    for place, user in enumerate(line[seats:], start=1):
        assert entries[user.pk].status == WaitlistStatus.WAITING
        (row,) = booking_services.selectors.waitlist_entries(user_id=user.pk)
        assert row["position"] == place
    held = Seat.objects.filter(pk__in=seat_ids, status=SeatStatus.HELD).count()
    assert held == seats
