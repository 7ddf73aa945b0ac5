"""A waiting list's offer: made when a ticket is refunded, paid without a queue place (API and
pages), while any other payment still needs the gate."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from booking import services as booking_services
from booking.models import (
    Reservation,
    ReservationStatus,
    Seat,
    SeatStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from booking.tests.factories import SeatFactory, UserFactory, schedule_with_seats
from payments import services
from payments.tests.conftest import fund, queue_token_active
from queueing import services as queue_services
from queueing.selectors import queue_token_status
from queueing.testing import admit, page_client

pytestmark = pytest.mark.django_db


def sold_out_with_tickets(seats: int = 2):
    """A date whose seats are all sold, each to a buyer of their own; (date, reservation ids)."""
    schedule = schedule_with_seats(seats)
    paid = []
    for seat in Seat.objects.filter(schedule=schedule).order_by("number"):
        buyer = UserFactory()
        fund(buyer, seat.price)
        hold = booking_services.reservation_hold(user=buyer, seat_id=seat.pk)
        services.payment_create(user=buyer, reservation_id=hold["reservation_id"])
        paid.append(hold["reservation_id"])
    return schedule, paid


@pytest.fixture
def offered(user):
    """`user` waits on a sold-out date and a refund hands them its seat; the entry."""
    schedule, paid = sold_out_with_tickets()
    booking_services.waitlist_join(user=user, schedule_id=schedule.pk)
    services.payment_refund(reservation_id=paid[0])
    entry = WaitlistEntry.objects.select_related("offer").get(user=user)
    assert entry.status == WaitlistStatus.OFFERED
    return entry


def test_a_refund_offers_the_seat_to_the_first_in_line(offered):
    refunded = Reservation.objects.get(seat_id=offered.offer.seat_id, paid_at__isnull=False)
    assert refunded.status == ReservationStatus.CANCELLED
    seat = Seat.objects.get(pk=offered.offer.seat_id)
    assert (seat.status, seat.held_until) == (SeatStatus.HELD, offered.offer.expires_at)


def test_the_offer_is_paid_through_the_api_without_a_queue_token(user, offered):
    fund(user, offered.offer.price)
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(
        "/api/reservation/payments", {"reservation_id": offered.offer_id}, format="json"
    )
    assert response.status_code == 201, response.json()
    offered.refresh_from_db()
    assert offered.status == WaitlistStatus.PURCHASED
    assert Seat.objects.get(pk=offered.offer.seat_id).status == SeatStatus.SOLD
    # Any other hold of the same buyer still meets the gate.
    other = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)
    fund(user, other["price"])
    refused = client.post(
        "/api/reservation/payments", {"reservation_id": other["reservation_id"]}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "queue_token_required"
    assert Reservation.objects.get(pk=other["reservation_id"]).status == ReservationStatus.HELD


def test_the_offer_is_paid_through_checkout_without_the_waiting_room(user, offered):
    fund(user, offered.offer.price)
    client = page_client(user, admitted=False)
    page = client.get(reverse("booking-checkout", args=[offered.offer_id]))
    assert page.status_code == 200
    paid = client.post(
        reverse("booking-pay", args=[offered.offer_id]), {"idempotency_key": "page-claim"}
    )
    assert paid.status_code == 302
    assert paid.url == reverse("ticket-detail", args=[offered.offer_id])
    offered.refresh_from_db()
    assert offered.status == WaitlistStatus.PURCHASED
    # An unrelated hold's checkout sends the buyer to the waiting room.
    other = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)
    gated = client.get(reverse("booking-checkout", args=[other["reservation_id"]]))
    assert gated.status_code == 302 and gated.url.startswith(reverse("queue-waiting-room"))


def test_paying_a_claim_leaves_a_waiting_queue_place_alone(user, offered):
    ticket = queue_services.queue_token_issue(user_id=user.pk)
    assert ticket.status == "waiting"
    fund(user, offered.offer.price)
    with_claim = APIClient()
    with_claim.force_authenticate(user)
    assert (
        with_claim.post(
            "/api/reservation/payments", {"reservation_id": offered.offer_id}, format="json"
        ).status_code
        == 201
    )
    assert queue_token_status(token=ticket.token, user_id=user.pk).status == "waiting"


def test_a_lapsed_offer_is_no_claim(user, offered):
    fund(user, offered.offer.price)
    past = timezone.now() - timedelta(seconds=1)
    Reservation.objects.filter(pk=offered.offer_id).update(expires_at=past)
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(
        "/api/reservation/payments", {"reservation_id": offered.offer_id}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "queue_token_required"


def test_an_offer_keeps_no_queue_slot(user, offered, django_capture_on_commit_callbacks):
    token = admit(user)
    other = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)
    fund(user, other["price"])
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_create(user=user, reservation_id=other["reservation_id"])
    # The offer still stands, yet paying the last hold of their own gave the slot back.
    assert WaitlistEntry.objects.get(pk=offered.pk).status == WaitlistStatus.OFFERED
    assert not queue_token_active(user, token)
