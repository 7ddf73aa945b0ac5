"""The waiting-list API: outside the queue, every refusal a stable code that changes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from booking import services
from booking.models import Reservation, Seat, WaitlistEntry, WaitlistStatus
from booking.tests.factories import UserFactory, schedule_with_seats
from booking.tests.test_waitlist import snapshot, sold_out

pytestmark = pytest.mark.django_db


@pytest.fixture
def date_sold_out():
    schedule, holds = sold_out()
    return schedule, holds


def test_join_list_and_leave_without_a_queue_token(auth_client, user, date_sold_out):
    schedule, holds = date_sold_out
    other = UserFactory()
    services.waitlist_join(user=other, schedule_id=schedule.pk)

    joined = auth_client.post(f"/api/schedules/{schedule.pk}/waitlist")
    assert joined.status_code == 201, joined.json()
    body = joined.json()
    assert body["schedule_id"] == schedule.pk
    assert body["concert_id"] == schedule.concert_id
    assert (body["status"], body["position"], body["offer"]) == ("waiting", 2, None)

    listed = auth_client.get("/api/waitlist").json()
    assert listed["count"] == 1
    assert listed["results"][0] == body

    # The first in line leaves, then a seat comes back: the offer shows in the list.
    services.waitlist_leave(user=other, schedule_id=schedule.pk)
    released = holds[0]
    services.reservation_cancel(
        user=Reservation.objects.get(pk=released["reservation_id"]).user,
        reservation_id=released["reservation_id"],
    )
    (entry,) = auth_client.get("/api/waitlist").json()["results"]
    offer = WaitlistEntry.objects.get(user=user).offer
    assert (entry["status"], entry["position"]) == ("offered", None)
    seat = Seat.objects.get(pk=released["seat_id"])
    assert entry["offer"] == {
        "reservation_id": offer.pk,
        "seat_id": seat.pk,
        "seat_number": seat.number,
        "seat_row": seat.row,
        "price": offer.price,
        "expires_at": offer.expires_at.isoformat().replace("+00:00", "Z"),
    }

    left = auth_client.delete(f"/api/schedules/{schedule.pk}/waitlist")
    assert left.status_code == 204
    assert auth_client.get("/api/waitlist").json()["count"] == 0
    assert WaitlistEntry.objects.get(user=user).status == WaitlistStatus.LEFT


@pytest.mark.parametrize(
    ("method", "case", "status", "code"),
    [
        ("post", "unknown", 404, "schedule_not_found"),
        ("post", "free", 409, "not_sold_out"),
        ("post", "twice", 409, "already_on_waitlist"),
        ("post", "past", 409, "schedule_past"),
        ("delete", "not on it", 404, "not_on_waitlist"),
        ("delete", "unknown", 404, "not_on_waitlist"),
    ],
)
def test_refusals(auth_client, user, date_sold_out, method, case, status, code):
    schedule, _ = date_sold_out
    schedule_id = schedule.pk
    if case == "unknown":
        schedule_id = 10**12
    elif case == "free":
        schedule_id = schedule_with_seats(1).pk
    elif case == "twice":
        services.waitlist_join(user=user, schedule_id=schedule.pk)
    elif case == "past":
        type(schedule).objects.filter(pk=schedule.pk).update(
            starts_at=timezone.now() - timedelta(minutes=1)
        )
    before = snapshot()
    response = getattr(auth_client, method)(f"/api/schedules/{schedule_id}/waitlist")
    assert response.status_code == status
    assert response.json()["code"] == code
    assert snapshot() == before


def test_anonymous_is_refused(api_client, date_sold_out):
    schedule, _ = date_sold_out
    assert api_client.post(f"/api/schedules/{schedule.pk}/waitlist").status_code == 401
    assert api_client.get("/api/waitlist").status_code == 401
    assert not WaitlistEntry.objects.exists()


def test_a_session_call_needs_its_csrf_token(user, date_sold_out):
    schedule, _ = date_sold_out
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(f"/api/schedules/{schedule.pk}/waitlist")
    assert response.status_code == 403
    assert not WaitlistEntry.objects.exists()


def test_the_list_costs_a_fixed_number_of_queries(auth_client, user, django_assert_num_queries):
    for _ in range(3):
        schedule, _ = sold_out(1)
        services.waitlist_join(user=user, schedule_id=schedule.pk)
    # The caller, the count and the page.
    with django_assert_num_queries(2):
        response = auth_client.get("/api/waitlist")
    assert response.json()["count"] == 3
