"""A waiting list's offer for a concert the site-wide room guards, held by a buyer admitted to
another concert's own room: the offer is paid and let go whatever room the buyer is in, and
paying it leaves their place in that room alone."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from booking import services as booking_services
from booking.models import Reservation, ReservationStatus, SeatStatus, WaitlistEntry, WaitlistStatus
from booking.tests.factories import schedule_with_seats
from payments import services
from payments.tests.conftest import fund, queue_token_active
from payments.tests.test_waitlist import sold_out_with_tickets
from queueing import services as queue_services
from queueing.testing import admit, page_client, session_token_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def offered(user):
    """`user` waits on a sold-out date of concert A (the site-wide room guards it) and a refund
    hands them its seat; the entry."""
    schedule, paid = sold_out_with_tickets()
    booking_services.waitlist_join(user=user, schedule_id=schedule.pk)
    services.payment_refund(reservation_id=paid[0])
    entry = WaitlistEntry.objects.select_related("offer").get(user=user)
    assert entry.status == WaitlistStatus.OFFERED
    return entry


@pytest.fixture
def room_b():
    """A date of a concert with a room of its own (concert B)."""
    schedule = schedule_with_seats(3)
    queue_services.room_save(concert_id=schedule.concert_id)
    return schedule


def _client(user, token: str | None = None) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    if token:
        client.credentials(HTTP_QUEUE_TOKEN=token)
    return client


def _pay(client: APIClient, reservation_id: int):
    return client.post(
        "/api/reservation/payments", {"reservation_id": reservation_id}, format="json"
    )


def _sold(entry: WaitlistEntry) -> bool:
    entry.refresh_from_db()
    seat = entry.offer.seat
    seat.refresh_from_db()
    return entry.status == WaitlistStatus.PURCHASED and seat.status == SeatStatus.SOLD


def test_an_offer_is_paid_with_the_token_of_another_concerts_room(user, offered, room_b):
    token_b = admit(user, room_b.concert_id)
    fund(user, offered.offer.price)
    response = _pay(_client(user, token_b), offered.offer_id)
    assert response.status_code == 201, response.json()
    assert response.json()["reservation_id"] == offered.offer_id
    assert _sold(offered)


def test_an_offer_is_paid_without_a_token_while_admitted_elsewhere(user, offered, room_b):
    admit(user, room_b.concert_id)
    fund(user, offered.offer.price)
    response = _pay(_client(user), offered.offer_id)
    assert response.status_code == 201, response.json()
    assert _sold(offered)


def test_the_offers_checkout_opens_in_a_session_admitted_to_another_room(user, offered, room_b):
    client = page_client(user, concert_id=room_b.concert_id)
    page = client.get(reverse("booking-checkout", args=[offered.offer_id]))
    assert page.status_code == 200
    assert reverse("booking-pay", args=[offered.offer_id]) in page.content.decode()

    released = client.post(reverse("booking-release", args=[offered.offer_id]))
    assert released.status_code == 302
    assert released["Location"] == reverse("tickets")
    assert Reservation.objects.get(pk=offered.offer_id).status != ReservationStatus.HELD
    assert WaitlistEntry.objects.get(pk=offered.pk).status != WaitlistStatus.OFFERED


def test_paying_an_offer_keeps_the_place_in_another_room(
    user, offered, room_b, django_capture_on_commit_callbacks
):
    token_b = admit(user, room_b.concert_id)
    client = _client(user, token_b)
    fund(user, offered.offer.price)
    with django_capture_on_commit_callbacks(execute=True):
        assert _pay(client, offered.offer_id).status_code == 201
    assert queue_token_active(user, token_b)
    assert client.get("/api/queue/tokens/current").json()["status"] == "active"

    # The control: paying their last hold of B itself gives B's place back.
    hold = booking_services.reservation_hold(user=user, seat_id=room_b.seats.first().pk)
    fund(user, hold["price"])
    with django_capture_on_commit_callbacks(execute=True):
        assert _pay(client, hold["reservation_id"]).status_code == 201
    assert not queue_token_active(user, token_b)


def test_paying_an_offer_keeps_the_place_in_the_offers_own_room(
    user, offered, django_capture_on_commit_callbacks
):
    """The site-wide room guards the offer's concert: a place there is kept too, token sent or
    not, as the offer was made outside the queue."""
    token = admit(user)
    fund(user, offered.offer.price)
    with django_capture_on_commit_callbacks(execute=True):
        assert _pay(_client(user), offered.offer_id).status_code == 201
    assert queue_token_active(user, token)


def test_the_offers_pay_form_pays_in_a_session_admitted_to_another_room(
    user, offered, room_b, django_capture_on_commit_callbacks
):
    token_b = admit(user, room_b.concert_id)
    client = page_client(user, admitted=False)
    session = client.session
    session_token_set(session, token_b)
    session.save()
    fund(user, offered.offer.price)
    with django_capture_on_commit_callbacks(execute=True):
        paid = client.post(
            reverse("booking-pay", args=[offered.offer_id]), {"idempotency_key": "page-offer-b"}
        )
    assert paid.status_code == 302
    assert paid["Location"] == reverse("ticket-detail", args=[offered.offer_id])
    assert _sold(offered)
    assert queue_token_active(user, token_b)
