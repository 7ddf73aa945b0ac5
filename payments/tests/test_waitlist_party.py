"""A buyer with an ordinary hold and a waiting list's offer on the same date: the offer is paid
and let go on its own, outside the party, and naming it opens no way past the queue for the
ordinary hold."""

import re

import pytest
from django.urls import reverse

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
from payments import services
from payments.tests.conftest import fund
from queueing.testing import page_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def hold_and_offer(user):
    """`user` holds seat 1 of a three-seat date whose other seats are sold; they join its
    waiting list and a refund offers them seat 2. (the ordinary hold's id, the offer's id)."""
    schedule = schedule_with_seats(3)
    seats = list(Seat.objects.filter(schedule=schedule).order_by("number"))
    own = booking_services.reservation_hold(user=user, seat_id=seats[0].pk)
    paid = []
    for seat in seats[1:]:
        buyer = UserFactory()
        fund(buyer, seat.price)
        hold = booking_services.reservation_hold(user=buyer, seat_id=seat.pk)
        services.payment_create(user=buyer, reservation_id=hold["reservation_id"])
        paid.append(hold["reservation_id"])
    booking_services.waitlist_join(user=user, schedule_id=schedule.pk)
    services.payment_refund(reservation_id=paid[0])
    entry = WaitlistEntry.objects.get(user=user)
    assert entry.status == WaitlistStatus.OFFERED
    assert Reservation.objects.get(pk=entry.offer_id).seat_id == seats[1].pk
    return own["reservation_id"], entry.offer_id


def _posted(page: str) -> list[str]:
    return re.findall(r'name="reservation_ids" value="(\d+)"', page)


def test_the_ordinary_holds_checkout_leaves_the_offer_out(user, hold_and_offer):
    own, offer = hold_and_offer
    fund(user, 1_000_000)
    page = page_client(user).get(reverse("booking-checkout", args=[own])).content.decode()
    assert "Your seat" in page and "Your 2 seats" not in page
    assert str(offer) not in _posted(page)
    assert reverse("booking-release", args=[offer]) not in page
    assert reverse("booking-pay", args=[own]) in page


def test_the_offers_checkout_shows_only_the_offer(user, hold_and_offer):
    own, offer = hold_and_offer
    fund(user, 1_000_000)
    client = page_client(user, admitted=False)
    page = client.get(reverse("booking-checkout", args=[offer])).content.decode()
    assert "Your seat" in page and "Your 2 seats" not in page
    assert str(own) not in _posted(page)
    assert reverse("booking-release", args=[own]) not in page
    assert reverse("booking-pay", args=[offer]) in page


def test_naming_the_offer_releases_no_ordinary_hold_without_a_place(user, hold_and_offer):
    own, offer = hold_and_offer
    client = page_client(user, admitted=False)
    refused = client.post(reverse("booking-release", args=[own]), {"reservation_ids": [offer]})
    assert refused.status_code == 302
    assert refused["Location"].startswith(reverse("queue-waiting-room"))
    assert Reservation.objects.get(pk=own).status == ReservationStatus.HELD
    assert Seat.objects.get(reservations__pk=own).status == SeatStatus.HELD

    # The offer's own release needs no place.
    released = client.post(reverse("booking-release", args=[offer]))
    assert released["Location"] == reverse("tickets")
    assert Reservation.objects.get(pk=offer).status != ReservationStatus.HELD
    assert Reservation.objects.get(pk=own).status == ReservationStatus.HELD
