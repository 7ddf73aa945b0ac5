"""Holds for a party: several seats of one date in one request, all or none; every refusal has
its code and changes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from booking import services
from booking.errors import (
    HoldLimitReached,
    HoldReleaseLimit,
    SeatNotFound,
    SeatsOfSeveralDates,
    SeatUnavailable,
    TooManySeats,
)
from booking.models import Reservation, ReservationStatus, Seat, SeatStatus
from booking.tests.factories import ScheduleFactory, SeatFactory, schedule_with_seats
from concertbooking.errors import InvalidInput

pytestmark = pytest.mark.django_db

HOLD_URL = "/api/reservation/concerts"


def state() -> dict:
    """Every row a hold may change."""
    return {
        "seats": list(Seat.objects.order_by("pk").values()),
        "reservations": list(Reservation.objects.order_by("pk").values()),
    }


@pytest.fixture
def seats():
    return list(schedule_with_seats(6).seats.order_by("number"))


def test_a_party_hold_takes_every_seat_with_one_deadline(admitted_client, user, seats):
    asked = [seats[3].pk, seats[1].pk, seats[2].pk]
    response = admitted_client.post(HOLD_URL, {"seat_ids": asked}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"reservations", "expires_at", "total"}
    assert [hold["seat_id"] for hold in body["reservations"]] == sorted(asked)
    assert body["total"] == 3 * 80_000
    assert {hold["expires_at"] for hold in body["reservations"]} == {body["expires_at"]}
    assert all(hold["status"] == "held" for hold in body["reservations"])
    reservations = Reservation.objects.filter(user=user)
    assert sorted(reservations.values_list("seat_id", flat=True)) == sorted(asked)
    assert {r.expires_at for r in reservations} == {Seat.objects.get(pk=asked[0]).held_until}
    assert set(Seat.objects.filter(pk__in=asked).values_list("status", flat=True)) == {"held"}


def test_the_single_seat_answer_is_unchanged(admitted_client, seats):
    response = admitted_client.post(HOLD_URL, {"seat_id": seats[0].pk}, format="json")
    assert response.status_code == 201
    assert set(response.json()) == {
        "reservation_id",
        "seat_id",
        "schedule_id",
        "concert_id",
        "price",
        "status",
        "expires_at",
    }


def test_one_seat_taken_holds_none(admitted_client, user, other_user, seats):
    services.reservation_hold(user=other_user, seat_id=seats[2].pk)
    before = state()
    response = admitted_client.post(
        HOLD_URL, {"seat_ids": [seats[1].pk, seats[2].pk, seats[3].pk]}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "seat_unavailable"
    assert response.json()["seat_ids"] == [seats[2].pk]
    assert state() == before


def test_a_sold_seat_or_a_run_out_hold_in_the_party(user, other_user, seats):
    """A run-out hold on one seat is retired for the party; a sold one refuses it all, and the
    retirement is undone with the rest."""
    first = services.reservation_hold(user=other_user, seat_id=seats[0].pk)
    past = timezone.now() - timedelta(seconds=1)
    Reservation.objects.filter(pk=first["reservation_id"]).update(expires_at=past)
    Seat.objects.filter(pk=seats[0].pk).update(held_until=past)
    Seat.objects.filter(pk=seats[2].pk).update(status=SeatStatus.SOLD)
    with pytest.raises(SeatUnavailable):
        services.reservation_hold(user=user, seat_ids=[seats[0].pk, seats[1].pk, seats[2].pk])
    assert Reservation.objects.get(pk=first["reservation_id"]).status == ReservationStatus.HELD

    holds = services.reservation_hold(user=user, seat_ids=[seats[0].pk, seats[1].pk])
    assert len(holds) == 2
    assert Reservation.objects.get(pk=first["reservation_id"]).status == ReservationStatus.EXPIRED


def test_the_limit_counts_the_holds_one_has(settings, user, seats):
    settings.HOLD_LIMIT_PER_USER = 4
    services.reservation_hold(user=user, seat_ids=[seats[0].pk, seats[1].pk])
    before = state()
    with pytest.raises(HoldLimitReached):
        services.reservation_hold(user=user, seat_ids=[s.pk for s in seats[2:5]])
    assert state() == before
    assert len(services.reservation_hold(user=user, seat_ids=[s.pk for s in seats[2:4]])) == 2


def test_releases_count_each_seat_of_a_party(settings, user, seats):
    settings.HOLD_RELEASES_PER_CONCERT = "4/h"
    for hold in services.reservation_hold(user=user, seat_ids=[s.pk for s in seats[:3]]):
        services.reservation_cancel(user=user, reservation_id=hold["reservation_id"])
    before = state()
    with pytest.raises(HoldReleaseLimit) as refused:
        services.reservation_hold(user=user, seat_ids=[seats[3].pk, seats[4].pk])
    assert 3500 < refused.value.retry_after <= 3600
    assert state() == before
    services.reservation_hold(user=user, seat_ids=[seats[3].pk])  # the fourth still fits


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"seat_ids": []}, 400, "invalid"),
        ({"seat_ids": "1"}, 400, "invalid"),
        ({"seat_ids": [True]}, 400, "invalid"),
        ({"seat_ids": [1, 1]}, 400, "invalid"),
        ({"seat_ids": [1, 2, 3, 4, 5]}, 400, "too_many_seats"),
        ({"seat_id": 1, "seat_ids": [2]}, 400, "invalid"),
        ({}, 400, "invalid"),
        ({"seat_ids": [1, 999_999_999]}, 404, "seat_not_found"),
        ({"seat_ids": [1, "other-date"]}, 400, "seats_of_several_dates"),
    ],
)
def test_bad_party_holds_are_refused_with_their_code(admitted_client, seats, body, status, code):
    other_date = SeatFactory(schedule=ScheduleFactory(concert=seats[0].schedule.concert))
    ids = {1: seats[0].pk, 2: seats[1].pk, 3: seats[2].pk, 4: seats[3].pk, 5: seats[4].pk}
    ids["other-date"] = other_date.pk
    if isinstance(body.get("seat_ids"), list):
        named = [i if isinstance(i, bool) else ids.get(i, i) for i in body["seat_ids"]]
        body = {**body, "seat_ids": named}
    before = state()
    response = admitted_client.post(HOLD_URL, body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert state() == before


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"seat_ids": []}, InvalidInput),
        ({"seat_ids": [1, 1]}, InvalidInput),
        ({"seat_ids": [1, 2, 3, 4, 5]}, TooManySeats),
        ({"seat_id": 1, "seat_ids": [1]}, InvalidInput),
        ({}, InvalidInput),
        ({"seat_ids": [999_999_999]}, SeatNotFound),
    ],
)
def test_the_service_refuses_bad_input_before_locking_anything(user, seats, kwargs, error):
    before = state()
    with pytest.raises(error):
        services.reservation_hold(user=user, **kwargs)
    assert state() == before


def test_seats_of_two_dates_are_refused(user, seats):
    other = SeatFactory()
    before = state()
    with pytest.raises(SeatsOfSeveralDates):
        services.reservation_hold(user=user, seat_ids=[seats[0].pk, other.pk])
    assert state() == before


def test_a_party_hold_statements(user, seats, django_assert_num_queries):
    """As a single seat's: the user, the count, the seats, the run-out holds' lock, the seat
    lock, the UPDATE and one INSERT of every reservation, however many seats. Plus the
    savepoint."""
    with django_assert_num_queries(7 + 2):
        services.reservation_hold(user=user, seat_ids=[s.pk for s in seats[:4]])
