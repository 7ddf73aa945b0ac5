"""Party holds under real contention on PostgreSQL: overlapping parties of one date each get
every seat they asked for or none, no seat is held twice, and no two parties deadlock.

The control runs the naive version (read the seats, then take them one by one, with
uk_reservation_seat_active dropped for the run) on the same threads and shows it lose.
"""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from booking import services
from booking.errors import SeatUnavailable
from booking.models import Reservation, ReservationStatus, Seat, SeatStatus
from booking.tests.factories import UserFactory, schedule_with_seats
from booking.tests.parallel import Failed, run_parallel

pytestmark = pytest.mark.django_db(transaction=True)

# Long enough that every thread reads before any writes: the race then happens every run.
RACE_WINDOW_SECONDS = 0.05
PARTY = 3
PARTIES = 10


def overlapping_parties(seat_ids: list[int]) -> list[list[int]]:
    """Party i asks for seats i, i+1, i+2: each overlaps its neighbours by two seats."""
    return [seat_ids[i : i + PARTY] for i in range(PARTIES)]


def naive_party_hold(*, user, seat_ids: list[int]) -> int:
    """The bug a party hold must not have: check the seats are free, then take them one at a
    time, each its own write, without the conditional UPDATE. Returns how many it took."""
    if Seat.objects.filter(pk__in=seat_ids, status=SeatStatus.AVAILABLE).count() != len(seat_ids):
        return 0
    time.sleep(RACE_WINDOW_SECONDS)
    expires_at = timezone.now() + timedelta(minutes=5)
    taken = 0
    for seat_id in seat_ids:
        seat = Seat.objects.get(pk=seat_id)
        if seat.status != SeatStatus.AVAILABLE and taken:
            break  # someone was faster on this one: the party is left with what it has
        Seat.objects.filter(pk=seat_id).update(status=SeatStatus.HELD, held_until=expires_at)
        Reservation.objects.create(
            user=user, seat_id=seat_id, price=seat.price, expires_at=expires_at
        )
        taken += 1
        time.sleep(RACE_WINDOW_SECONDS)
    return taken


def seats_held_twice() -> list[int]:
    held = Counter(
        Reservation.objects.filter(status=ReservationStatus.HELD).values_list("seat_id", flat=True)
    )
    return [seat_id for seat_id, owners in held.items() if owners > 1]


def parties_split() -> list[int]:
    """Users holding some but not all of a party's seats."""
    per_user = Counter(
        Reservation.objects.filter(status=ReservationStatus.HELD).values_list("user_id", flat=True)
    )
    return [user_id for user_id, seats in per_user.items() if seats != PARTY]


@pytest.fixture
def unique_seat_guard_dropped():
    """uk_reservation_seat_active gone for the test, back (empty table first) afterwards."""
    constraint = next(
        c for c in Reservation._meta.constraints if c.name == "uk_reservation_seat_active"
    )
    with connection.schema_editor() as editor:
        editor.remove_constraint(Reservation, constraint)
    try:
        yield
    finally:
        Reservation.objects.all().delete()
        with connection.schema_editor() as editor:
            editor.add_constraint(Reservation, constraint)


def test_control_naive_party_holds_double_hold_or_split_parties(unique_seat_guard_dropped):
    seat_ids = list(
        schedule_with_seats(PARTIES + PARTY).seats.order_by("number").values_list("pk", flat=True)
    )
    users = UserFactory.create_batch(PARTIES)
    parties = overlapping_parties(seat_ids)
    results = run_parallel(
        [
            lambda u=u, p=p: naive_party_hold(user=u, seat_ids=p)
            for u, p in zip(users, parties, strict=True)
        ]
    )
    assert not [r for r in results if isinstance(r, Failed)]
    assert seats_held_twice() or parties_split()


@pytest.mark.parametrize("round_", range(3))
def test_overlapping_parties_get_all_their_seats_or_none(round_):
    seat_ids = list(
        schedule_with_seats(PARTIES + PARTY).seats.order_by("number").values_list("pk", flat=True)
    )
    users = UserFactory.create_batch(PARTIES)
    parties = overlapping_parties(seat_ids)
    # Each party asks in its own order: the service's pk order is what keeps them deadlock-free.
    asked = [party if i % 2 else party[::-1] for i, party in enumerate(parties)]
    results = run_parallel(
        [
            lambda u=u, p=p: services.reservation_hold(user=u, seat_ids=p)
            for u, p in zip(users, asked, strict=True)
        ]
    )

    failures = [r.exc for r in results if isinstance(r, Failed)]
    assert all(isinstance(exc, SeatUnavailable) for exc in failures), failures  # no deadlock
    winners = [
        (u, p) for u, p, r in zip(users, parties, results, strict=True) if not isinstance(r, Failed)
    ]
    assert winners
    assert not seats_held_twice()
    assert not parties_split()
    for user, party in winners:
        assert sorted(
            Reservation.objects.filter(user=user).values_list("seat_id", flat=True)
        ) == sorted(party)
    held = set(Seat.objects.filter(status=SeatStatus.HELD).values_list("pk", flat=True))
    assert held == {seat for _, party in winners for seat in party}
    losers = [u for u, r in zip(users, results, strict=True) if isinstance(r, Failed)]
    assert not Reservation.objects.filter(user__in=losers).exists()
