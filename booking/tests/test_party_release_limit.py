"""A party larger than the whole HOLD_RELEASES_PER_CONCERT allowance: no wait would make room
for it, so it is refused as too many seats (400 too_many_seats), holding nothing, rather than
asked to wait; a party within the allowance is held as ever."""

import pytest
from django.urls import reverse

from booking import services
from booking.errors import TooManySeats
from booking.models import Reservation, Seat, SeatStatus
from booking.tests.factories import schedule_with_seats

pytestmark = pytest.mark.django_db


@pytest.fixture
def seats(settings):
    settings.HOLD_RELEASES_PER_CONCERT = "2/h"
    settings.HOLD_LIMIT_PER_USER = 4
    return list(schedule_with_seats(4).seats.order_by("number").values_list("pk", flat=True))


def _nothing_held() -> bool:
    return (
        not Reservation.objects.exists()
        and not Seat.objects.exclude(status=SeatStatus.AVAILABLE).exists()
    )


def test_a_party_over_the_allowance_is_too_many_seats(user, seats):
    with pytest.raises(TooManySeats) as refused:
        services.reservation_hold(user=user, seat_ids=seats[:3])
    assert refused.value.code == "too_many_seats"
    assert "At most 2 seats" in str(refused.value.detail)
    assert _nothing_held()


def test_over_the_api_it_is_400_too_many_seats(admitted_client, seats):
    answer = admitted_client.post(
        "/api/reservation/concerts", {"seat_ids": seats[:3]}, format="json"
    )
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] == "too_many_seats"
    assert "Retry-After" not in answer
    assert _nothing_held()

    held = admitted_client.post("/api/reservation/concerts", {"seat_ids": seats[:2]}, format="json")
    assert held.status_code == 201, held.content
    assert len(held.json()["reservations"]) == 2


def test_a_party_within_the_allowance_is_held(user, seats):
    held = services.reservation_hold(user=user, seat_ids=seats[:2])
    assert sorted(row["seat_id"] for row in held) == sorted(seats[:2])
    assert Seat.objects.filter(status=SeatStatus.HELD).count() == 2


def test_the_seat_map_says_so_instead_of_failing(client_in, user, seats):
    schedule_id = Seat.objects.get(pk=seats[0]).schedule_id
    response = client_in.post(
        reverse("booking-seat-hold", args=[schedule_id]), {"seat_ids": seats[:3]}, follow=True
    )
    assert response.status_code == 200
    assert "At most 2 seats" in response.content.decode()
    assert _nothing_held()
