"""Holds under real contention on PostgreSQL: one seat, one winner; one user, at most the limit.

Each guarded test is paired with a control that runs the naive read-then-write version of the
same operation on the same threads and shows the race it would lose.
"""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from rest_framework.test import APIClient

from booking import services
from booking.errors import HoldLimitReached, SeatUnavailable
from booking.models import Reservation, ReservationStatus, Seat, SeatStatus
from booking.tests.factories import SeatFactory, UserFactory
from booking.tests.parallel import Failed, run_parallel
from queueing.testing import admit

pytestmark = pytest.mark.django_db(transaction=True)

# Long enough that every thread reads before any writes: the race then happens every run.
RACE_WINDOW_SECONDS = 0.05


def naive_hold(*, user, seat_id: int) -> bool:
    """The bug this project must not have: check the seat, then take it."""
    with transaction.atomic():
        seat = Seat.objects.get(pk=seat_id)
        if seat.status != SeatStatus.AVAILABLE:
            return False
        time.sleep(RACE_WINDOW_SECONDS)
        seat.status = SeatStatus.HELD
        seat.held_until = timezone.now() + timedelta(minutes=5)
        seat.save(update_fields=["status", "held_until"])
        return True


def test_control_read_then_write_sells_one_seat_many_times():
    seat = SeatFactory()
    users = UserFactory.create_batch(32)
    results = run_parallel([lambda u=u: naive_hold(user=u, seat_id=seat.id) for u in users])
    assert results.count(True) > 1  # the race the guarded hold must not lose


def test_200_users_one_seat_one_winner_over_http():
    seat = SeatFactory()
    users = UserFactory.create_batch(200)
    clients = []
    for user in users:
        client = APIClient()
        client.force_authenticate(user)
        client.credentials(HTTP_QUEUE_TOKEN=admit(user))
        clients.append(client)

    def attempt(client: APIClient):
        response = client.post("/api/reservation/concerts", {"seat_id": seat.id}, format="json")
        return response.status_code, response.json()

    results = run_parallel([lambda c=c: attempt(c) for c in clients])

    assert not [r for r in results if isinstance(r, Failed)]
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 199
    assert {body["code"] for status, body in results if status == 409} == {"seat_unavailable"}
    winner = next(body for status, body in results if status == 201)
    reservation = Reservation.objects.get()
    assert reservation.id == winner["reservation_id"]
    seat.refresh_from_db()
    assert seat.status == SeatStatus.HELD
    assert seat.held_until == reservation.expires_at
    assert seat.version == 1


def test_run_out_hold_raced_by_many_has_one_new_winner():
    seat = SeatFactory()
    first, *others = UserFactory.create_batch(65)
    old = services.reservation_hold(user=first, seat_id=seat.id)
    past = timezone.now() - timedelta(seconds=1)
    Reservation.objects.filter(pk=old["reservation_id"]).update(expires_at=past)
    Seat.objects.filter(pk=seat.id).update(held_until=past)

    results = run_parallel(
        [lambda u=u: services.reservation_hold(user=u, seat_id=seat.id) for u in others]
    )

    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if isinstance(r, Failed)]
    assert len(won) == 1
    assert len(lost) == 63
    assert all(isinstance(r.exc, SeatUnavailable) for r in lost)
    assert dict(Reservation.objects.values_list("id", "status")) == {
        old["reservation_id"]: ReservationStatus.EXPIRED,
        won[0]["reservation_id"]: ReservationStatus.HELD,
    }


def naive_limited_hold(*, user, seat_id: int) -> bool:
    """Count, then hold, without the user lock."""
    with transaction.atomic():
        now = timezone.now()
        active = Reservation.objects.filter(
            user=user, status=ReservationStatus.HELD, expires_at__gt=now
        ).count()
        if active >= settings.HOLD_LIMIT_PER_USER:
            return False
        time.sleep(RACE_WINDOW_SECONDS)
        Reservation.objects.create(
            user=user, seat_id=seat_id, price=1, expires_at=now + timedelta(minutes=5)
        )
        return True


def test_control_counting_without_a_lock_overruns_the_hold_limit():
    user = UserFactory()
    seats = SeatFactory.create_batch(20)
    results = run_parallel([lambda s=s: naive_limited_hold(user=user, seat_id=s.id) for s in seats])
    assert results.count(True) > settings.HOLD_LIMIT_PER_USER


def test_parallel_holds_by_one_user_stop_at_the_limit():
    user = UserFactory()
    seats = SeatFactory.create_batch(20)
    results = run_parallel(
        [lambda s=s: services.reservation_hold(user=user, seat_id=s.id) for s in seats]
    )
    won = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Failed)]
    assert len(won) == settings.HOLD_LIMIT_PER_USER == 4
    assert all(isinstance(r.exc, HoldLimitReached) for r in refused)
    assert Reservation.objects.filter(user=user, status=ReservationStatus.HELD).count() == 4
    assert Seat.objects.filter(status=SeatStatus.HELD).count() == 4


def test_many_users_many_seats_never_two_active_reservations_per_seat(settings):
    settings.HOLD_LIMIT_PER_USER = 100
    seats = SeatFactory.create_batch(10)
    users = UserFactory.create_batch(32)
    # Every user tries every seat, each starting at a different one.
    calls = []
    for n, user in enumerate(users):
        order = seats[n % 10 :] + seats[: n % 10]
        for seat in order:
            calls.append(lambda u=user, s=seat: services.reservation_hold(user=u, seat_id=s.id))
    results = run_parallel(calls)

    for result in results:
        assert isinstance(result, dict) or isinstance(result.exc, SeatUnavailable), result
    assert len([r for r in results if isinstance(r, dict)]) == 10
    per_seat = (
        Reservation.objects.filter(status__in=[ReservationStatus.HELD, ReservationStatus.PAID])
        .values("seat_id")
        .annotate(n=Count("id"))
    )
    assert sorted(row["n"] for row in per_seat) == [1] * 10
    assert Seat.objects.filter(status=SeatStatus.HELD).count() == 10
