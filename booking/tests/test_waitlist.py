"""Waiting lists of sold-out dates: joining, leaving, and seats that come back offered in turn."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from booking import selectors, services
from booking.errors import (
    AlreadyOnWaitlist,
    NotOnWaitlist,
    NotSoldOut,
    ScheduleNotFound,
    SchedulePast,
    SeatUnavailable,
)
from booking.models import (
    Reservation,
    ReservationStatus,
    Seat,
    SeatStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from booking.tests.factories import SeatFactory, UserFactory, schedule_with_seats
from concertbooking.celery import app as celery_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def celery_eager():
    """Tasks run inline, so the offer's email is sent when the transaction commits."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def snapshot() -> dict:
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Seat, Reservation, WaitlistEntry)
    }


def sold_out(seats: int = 2):
    """A date whose `seats` seats are each held by a buyer of their own; (date, holds)."""
    schedule = schedule_with_seats(seats)
    holds = [
        services.reservation_hold(user=UserFactory(), seat_id=seat.pk)
        for seat in Seat.objects.filter(schedule=schedule).order_by("number")
    ]
    return schedule, holds


def run_out(reservation_id: int) -> None:
    """Time passes: the hold's deadline is over (not swept yet)."""
    past = timezone.now() - timedelta(seconds=1)
    reservation = Reservation.objects.get(pk=reservation_id)
    Reservation.objects.filter(pk=reservation_id).update(expires_at=past)
    Seat.objects.filter(pk=reservation.seat_id).update(held_until=past)


def owner_of(reservation_id: int):
    return Reservation.objects.get(pk=reservation_id).user


def test_join_answers_the_place_in_line():
    schedule, _ = sold_out()
    first, second = UserFactory.create_batch(2)
    a = services.waitlist_join(user=first, schedule_id=schedule.pk)
    b = services.waitlist_join(user=second, schedule_id=schedule.pk)
    assert (a["status_now"], a["position"]) == ("waiting", 1)
    assert (b["status_now"], b["position"]) == ("waiting", 2)
    assert b["schedule_id"] == schedule.pk and b["concert_id"] == schedule.concert_id
    services.waitlist_leave(user=first, schedule_id=schedule.pk)
    assert selectors.waitlist_entries(user_id=second.pk).get()["position"] == 1


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("unknown", ScheduleNotFound),
        ("past", SchedulePast),
        ("free seat", NotSoldOut),
        ("hold run out", NotSoldOut),
        ("no seats", NotSoldOut),
        ("twice", AlreadyOnWaitlist),
    ],
)
def test_join_refusals_change_nothing(case, error):
    schedule, holds = sold_out()
    user = UserFactory()
    schedule_id = schedule.pk
    if case == "unknown":
        schedule_id = 10**9
    elif case == "past":
        type(schedule).objects.filter(pk=schedule.pk).update(
            starts_at=timezone.now() - timedelta(hours=1)
        )
    elif case == "free seat":
        SeatFactory(schedule=schedule, number=99)
    elif case == "hold run out":
        run_out(holds[0]["reservation_id"])
    elif case == "no seats":
        schedule_id = schedule_with_seats(0).pk
    elif case == "twice":
        services.waitlist_join(user=user, schedule_id=schedule.pk)
    before = snapshot()
    with pytest.raises(error):
        services.waitlist_join(user=user, schedule_id=schedule_id)
    assert snapshot() == before


def test_leave_when_not_on_the_list_is_not_found_and_changes_nothing():
    schedule, _ = sold_out()
    user = UserFactory()
    before = snapshot()
    with pytest.raises(NotOnWaitlist):
        services.waitlist_leave(user=user, schedule_id=schedule.pk)
    services.waitlist_join(user=user, schedule_id=schedule.pk)
    services.waitlist_leave(user=user, schedule_id=schedule.pk)
    left = snapshot()
    with pytest.raises(NotOnWaitlist):
        services.waitlist_leave(user=user, schedule_id=schedule.pk)
    assert snapshot() == left
    assert before["Seat"] == left["Seat"]
    # Left, one may join again.
    assert services.waitlist_join(user=user, schedule_id=schedule.pk)["position"] == 1


def test_a_released_hold_is_offered_to_the_first_in_line(
    settings, celery_eager, django_capture_on_commit_callbacks
):
    settings.WAITLIST_CLAIM_MINUTES = 30
    schedule, holds = sold_out()
    first, second = UserFactory.create_batch(2)
    services.waitlist_join(user=first, schedule_id=schedule.pk)
    services.waitlist_join(user=second, schedule_id=schedule.pk)
    released = holds[0]
    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_cancel(
            user=owner_of(released["reservation_id"]), reservation_id=released["reservation_id"]
        )

    entry = WaitlistEntry.objects.get(user=first)
    assert entry.status == WaitlistStatus.OFFERED
    offer = entry.offer
    assert (offer.user_id, offer.seat_id, offer.status) == (
        first.pk,
        released["seat_id"],
        ReservationStatus.HELD,
    )
    assert offer.price == released["price"]
    assert timedelta(minutes=29) < offer.expires_at - timezone.now() <= timedelta(minutes=30)
    seat = Seat.objects.get(pk=released["seat_id"])
    assert (seat.status, seat.held_until) == (SeatStatus.HELD, offer.expires_at)
    assert WaitlistEntry.objects.get(user=second).status == WaitlistStatus.WAITING
    listed = selectors.waitlist_entries(user_id=first.pk).get()
    assert (listed["status_now"], listed["position"], listed["reservation_id"]) == (
        "offered",
        None,
        offer.pk,
    )
    assert selectors.waitlist_entries(user_id=second.pk).get()["position"] == 1
    assert selectors.reservations_claimed(user_id=first.pk, reservation_ids=[offer.pk])
    # The email names the date, the seat, the deadline and the checkout page.
    (message,) = mail.outbox
    assert message.to == [first.email]
    assert f"/book/checkout/{offer.pk}" in message.body
    assert settings.SITE_URL in message.body
    assert f"seat {seat.number}" in message.body
    assert timezone.localtime(offer.expires_at).strftime("%H:%M") in message.body


def test_a_swept_hold_is_offered_and_a_lapsed_offer_passes_to_the_next():
    schedule, holds = sold_out()
    first, second = UserFactory.create_batch(2)
    services.waitlist_join(user=first, schedule_id=schedule.pk)
    services.waitlist_join(user=second, schedule_id=schedule.pk)
    run_out(holds[1]["reservation_id"])
    assert services.holds_expire() == 1
    offer = WaitlistEntry.objects.get(user=first).offer
    assert offer.seat_id == holds[1]["seat_id"]

    run_out(offer.pk)
    # Not swept yet: the seat is the list's, not the first queued buyer's.
    with pytest.raises(SeatUnavailable):
        services.reservation_hold(user=UserFactory(), seat_id=offer.seat_id)
    assert selectors.waitlist_entries(user_id=first.pk).get()["status_now"] == "lapsed"
    services.holds_expire()
    first_entry = WaitlistEntry.objects.get(user=first)
    assert first_entry.status == WaitlistStatus.LAPSED
    assert Reservation.objects.get(pk=offer.pk).status == ReservationStatus.EXPIRED
    second_offer = WaitlistEntry.objects.get(user=second).offer
    assert (second_offer.user_id, second_offer.seat_id) == (second.pk, offer.seat_id)
    # The last offer lapses with nobody waiting: the seat is free to anyone.
    run_out(second_offer.pk)
    services.holds_expire()
    assert WaitlistEntry.objects.get(user=second).status == WaitlistStatus.LAPSED
    assert Seat.objects.get(pk=offer.seat_id).status == SeatStatus.AVAILABLE
    assert services.reservation_hold(user=UserFactory(), seat_id=offer.seat_id)


def test_leaving_with_an_offer_passes_it_on_and_the_last_leaving_frees_it():
    schedule, holds = sold_out()
    first, second = UserFactory.create_batch(2)
    services.waitlist_join(user=first, schedule_id=schedule.pk)
    services.waitlist_join(user=second, schedule_id=schedule.pk)
    released = holds[0]
    services.reservation_cancel(
        user=owner_of(released["reservation_id"]), reservation_id=released["reservation_id"]
    )
    offer = WaitlistEntry.objects.get(user=first).offer

    services.waitlist_leave(user=first, schedule_id=schedule.pk)
    assert WaitlistEntry.objects.get(user=first).status == WaitlistStatus.LEFT
    assert Reservation.objects.get(pk=offer.pk).status == ReservationStatus.CANCELLED
    passed = WaitlistEntry.objects.get(user=second)
    assert (passed.status, passed.offer.seat_id) == (WaitlistStatus.OFFERED, offer.seat_id)

    services.waitlist_leave(user=second, schedule_id=schedule.pk)
    seat = Seat.objects.get(pk=offer.seat_id)
    assert (seat.status, seat.held_until) == (SeatStatus.AVAILABLE, None)
    assert not Reservation.objects.filter(seat=seat, status=ReservationStatus.HELD).exists()
    assert selectors.waitlist_entries(user_id=second.pk).count() == 0


def test_releasing_the_offered_hold_declines_it():
    schedule, holds = sold_out()
    first, second = UserFactory.create_batch(2)
    services.waitlist_join(user=first, schedule_id=schedule.pk)
    services.waitlist_join(user=second, schedule_id=schedule.pk)
    released = holds[0]
    services.reservation_cancel(
        user=owner_of(released["reservation_id"]), reservation_id=released["reservation_id"]
    )
    offer = WaitlistEntry.objects.get(user=first).offer
    services.reservation_cancel(user=first, reservation_id=offer.pk)
    assert WaitlistEntry.objects.get(user=first).status == WaitlistStatus.LEFT
    assert WaitlistEntry.objects.get(user=second).offer.seat_id == offer.seat_id


def test_an_offer_is_made_to_a_buyer_at_the_hold_limit(settings):
    settings.HOLD_LIMIT_PER_USER = 1
    schedule, holds = sold_out()
    waiter = UserFactory()
    services.reservation_hold(user=waiter, seat_id=SeatFactory().pk)
    services.waitlist_join(user=waiter, schedule_id=schedule.pk)
    released = holds[0]
    services.reservation_cancel(
        user=owner_of(released["reservation_id"]), reservation_id=released["reservation_id"]
    )
    assert WaitlistEntry.objects.get(user=waiter).offer.seat_id == released["seat_id"]


def test_a_lapsed_offer_counts_for_no_release_limit(settings):
    settings.HOLD_RELEASES_PER_CONCERT = "1/h"
    schedule, holds = sold_out()
    waiter = UserFactory()
    services.waitlist_join(user=waiter, schedule_id=schedule.pk)
    released = holds[0]
    services.reservation_cancel(
        user=owner_of(released["reservation_id"]), reservation_id=released["reservation_id"]
    )
    offer = WaitlistEntry.objects.get(user=waiter).offer
    run_out(offer.pk)
    services.holds_expire()
    assert WaitlistEntry.objects.get(user=waiter).status == WaitlistStatus.LAPSED
    # Another date of the same concert: the lapsed offer was not the waiter's own let-go hold.
    other_date = schedule_with_seats(1, concert=schedule.concert)
    seat = Seat.objects.get(schedule=other_date)
    assert services.reservation_hold(user=waiter, seat_id=seat.pk)["seat_id"] == seat.pk


def test_paying_marks_the_entry_purchased():
    schedule, holds = sold_out()
    waiter = UserFactory()
    services.waitlist_join(user=waiter, schedule_id=schedule.pk)
    released = holds[0]
    services.reservation_cancel(
        user=owner_of(released["reservation_id"]), reservation_id=released["reservation_id"]
    )
    entry = WaitlistEntry.objects.get(user=waiter)
    now = timezone.now()
    reservation = services.reservation_lock_payable(
        user_id=waiter.pk, reservation_id=entry.offer_id, now=now
    )
    services.reservations_confirm(reservations=[reservation], now=now)
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.PURCHASED
    assert Seat.objects.get(pk=released["seat_id"]).status == SeatStatus.SOLD
    assert not selectors.waitlist_entries(user_id=waiter.pk).exists()
    # Purchased, the buyer may wait for another seat of the same date.
    assert services.waitlist_join(user=waiter, schedule_id=schedule.pk)["position"] == 1


def test_a_seat_of_a_date_with_nobody_waiting_becomes_free():
    schedule, holds = sold_out()
    released = holds[0]
    services.reservation_cancel(
        user=owner_of(released["reservation_id"]), reservation_id=released["reservation_id"]
    )
    assert Seat.objects.get(pk=released["seat_id"]).status == SeatStatus.AVAILABLE
    assert Reservation.objects.filter(status=ReservationStatus.HELD).count() == 1


def test_an_offer_shows_on_the_catalog_as_taken(django_capture_on_commit_callbacks):
    schedule, holds = sold_out()
    waiter = UserFactory()
    services.waitlist_join(user=waiter, schedule_id=schedule.pk)
    # Cached reads made while sold out.
    assert selectors.concert_available_dates_json(concert_id=schedule.concert_id) == b"[]"
    released = holds[0]
    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_cancel(
            user=owner_of(released["reservation_id"]), reservation_id=released["reservation_id"]
        )
    assert selectors.concert_available_dates_json(concert_id=schedule.concert_id) == b"[]"
    assert (
        selectors.schedule_available_seats_json(
            concert_id=schedule.concert_id, schedule_id=schedule.pk
        )
        == b"[]"
    )
    seat_map = selectors.schedule_seat_map(schedule_id=schedule.pk)
    assert seat_map["counts"]["held"] == 2 and seat_map["counts"]["available"] == 0
    # The last in line leaves: the seat shows free, in the cached reads too.
    with django_capture_on_commit_callbacks(execute=True):
        services.waitlist_leave(user=waiter, schedule_id=schedule.pk)
    dates = selectors.concert_available_dates_json(concert_id=schedule.concert_id)
    assert b'"available_seats":1' in dates.replace(b" ", b"")
    assert selectors.schedule_seat_map(schedule_id=schedule.pk)["counts"]["available"] == 1


def test_a_deactivated_buyer_is_passed_over_and_no_claim_outlives_the_show():
    schedule, holds = sold_out()
    gone, waiter = UserFactory.create_batch(2)
    services.waitlist_join(user=gone, schedule_id=schedule.pk)
    services.waitlist_join(user=waiter, schedule_id=schedule.pk)
    type(gone).objects.filter(pk=gone.pk).update(is_active=False)
    starts_soon = timezone.now() + timedelta(minutes=10)
    type(schedule).objects.filter(pk=schedule.pk).update(starts_at=starts_soon)
    released = holds[0]
    services.reservation_cancel(
        user=owner_of(released["reservation_id"]), reservation_id=released["reservation_id"]
    )
    assert WaitlistEntry.objects.get(user=gone).status == WaitlistStatus.WAITING
    offer = WaitlistEntry.objects.get(user=waiter).offer
    assert offer.expires_at == starts_soon
