"""Paying pages: checkout, top-ups, paying, releasing, My tickets and the ticket page."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from booking.models import Reservation, Seat, SeatStatus
from booking.tests.factories import SeatFactory, tour_date
from payments.selectors import wallet_balance
from payments.services import payment_create, wallet_charge
from queueing.testing import admit, page_client, session_token_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def schedule():
    return tour_date()


def _free_seat(schedule, number: int, price: int = 100_000):
    return SeatFactory(schedule=schedule, number=number, row="A", tier="VIP", price=price)


def _balance(user) -> int:
    return wallet_balance(user_id=user.pk)


def test_hold_then_checkout_shows_countdown_price_and_balance(client_in, schedule, other_user):
    seat = _free_seat(schedule, 1, price=120_000)
    response = client_in.post(
        reverse("booking-seat-hold", args=[schedule.pk]), {"seat_id": seat.pk}
    )
    assert response.status_code == 302
    checkout_url = response["Location"]
    seat.refresh_from_db()
    assert seat.status == SeatStatus.HELD

    page = client_in.get(checkout_url).content.decode()
    assert 'id="hold-timer"' in page and 'data-remaining="' in page
    assert "120,000" in page
    assert "data-balance>0<" in page
    assert "120,000 short" in page
    assert "Row A, seat 1" in page

    # Someone else sees the seat as held, and cannot take it.
    other = page_client(other_user)
    seat_map = other.get(reverse("booking-seat-map", args=[schedule.pk])).content.decode()
    assert 'class="seat seat--held"' in seat_map
    taken = other.post(
        reverse("booking-seat-hold", args=[schedule.pk]), {"seat_id": seat.pk}, follow=True
    )
    assert "This seat is already taken" in taken.content.decode()


def _hold(client, schedule, seat) -> int:
    response = client.post(reverse("booking-seat-hold", args=[schedule.pk]), {"seat_id": seat.pk})
    return int(response["Location"].rstrip("/").split("/")[-1])


def test_top_up_then_pay_sells_the_seat_and_shows_the_ticket(
    client_in, user, schedule, django_capture_on_commit_callbacks
):
    seat = _free_seat(schedule, 1, price=90_000)
    reservation_id = _hold(client_in, schedule, seat)
    checkout_url = reverse("booking-checkout", args=[reservation_id])
    pay_url = reverse("booking-pay", args=[reservation_id])

    short = client_in.post(pay_url, {"idempotency_key": "page-a"}, follow=True)
    assert "Your balance is too low" in short.content.decode()

    topped = client_in.post(
        reverse("wallet-top-up"),
        {"amount": "100000", "next": checkout_url, "idempotency_key": "page-t1"},
        follow=True,
    )
    assert topped.redirect_chain[-1][0] == checkout_url
    assert "it is now 100,000" in topped.content.decode()
    # The same form sent twice (a double click) adds the money once.
    client_in.post(
        reverse("wallet-top-up"),
        {"amount": "100000", "next": checkout_url, "idempotency_key": "page-t1"},
    )
    assert _balance(user) == 100_000

    with django_capture_on_commit_callbacks(execute=True):
        paid = client_in.post(pay_url, {"idempotency_key": "page-p1"}, follow=True)
    assert paid.redirect_chain[-1][0] == reverse("ticket-detail", args=[reservation_id])
    page = paid.content.decode()
    assert "Payment complete" in page and "You're going!" in page
    assert _balance(user) == 10_000
    seat.refresh_from_db()
    assert seat.status == SeatStatus.SOLD
    assert Reservation.objects.get(pk=reservation_id).status == "paid"

    # Paying again from a resubmitted page does not charge twice.
    again = client_in.post(pay_url, {"idempotency_key": "page-p1"})
    assert again.status_code == 302
    assert _balance(user) == 10_000

    # The queue slot was handed back: the booking flow is closed, the tickets are not.
    assert client_in.get(checkout_url)["Location"].startswith(reverse("queue-waiting-room"))
    tickets = client_in.get(reverse("tickets")).content.decode()
    assert "Paid" in tickets and "Row A, seat 1" in tickets


def test_a_buyer_with_two_holds_pays_both_before_leaving_the_flow(
    client_in, user, schedule, django_capture_on_commit_callbacks
):
    first, second = (_hold(client_in, schedule, _free_seat(schedule, n)) for n in (1, 2))
    wallet_charge(user=user, amount=200_000)
    with django_capture_on_commit_callbacks(execute=True):
        client_in.post(reverse("booking-pay", args=[first]), {"idempotency_key": "page-1"})
    # Still admitted: the second checkout opens and its payment goes through.
    assert client_in.get(reverse("booking-checkout", args=[second])).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        paid = client_in.post(reverse("booking-pay", args=[second]), {"idempotency_key": "page-2"})
    assert paid["Location"] == reverse("ticket-detail", args=[second])
    assert Reservation.objects.filter(pk__in=[first, second], status="paid").count() == 2
    # Nothing left to pay: the slot went back and the booking flow is closed.
    checkout = client_in.get(reverse("booking-checkout", args=[second]))
    assert checkout["Location"].startswith(reverse("queue-waiting-room"))


def test_an_expired_hold_cannot_be_paid_and_says_so(client_in, user, schedule):
    seat = _free_seat(schedule, 1)
    reservation_id = _hold(client_in, schedule, seat)
    wallet_charge(user=user, amount=500_000)
    past = timezone.now() - timedelta(seconds=1)
    Reservation.objects.filter(pk=reservation_id).update(expires_at=past)
    Seat.objects.filter(pk=seat.pk).update(held_until=past)

    page = client_in.get(reverse("booking-checkout", args=[reservation_id])).content.decode()
    assert "Your hold on this seat has expired" in page
    assert 'id="hold-timer"' not in page
    response = client_in.post(reverse("booking-pay", args=[reservation_id]), follow=True)
    assert "This hold has expired or was released" in response.content.decode()
    assert _balance(user) == 500_000


def test_releasing_a_hold_frees_the_seat(client_in, schedule):
    seat = _free_seat(schedule, 1)
    reservation_id = _hold(client_in, schedule, seat)
    response = client_in.post(reverse("booking-release", args=[reservation_id]), follow=True)
    assert "The seat is released" in response.content.decode()
    seat.refresh_from_db()
    assert seat.status == SeatStatus.AVAILABLE


def test_other_peoples_reservations_are_not_found(client_in, other_user, schedule):
    seat = _free_seat(schedule, 1)
    reservation_id = _hold(page_client(other_user), schedule, seat)
    for url in (
        reverse("booking-checkout", args=[reservation_id]),
        reverse("ticket-detail", args=[reservation_id]),
    ):
        assert client_in.get(url).status_code == 404
    assert client_in.post(reverse("booking-pay", args=[reservation_id])).status_code == 404
    assert client_in.post(reverse("booking-release", args=[reservation_id])).status_code == 404
    seat.refresh_from_db()
    assert seat.status == SeatStatus.HELD


@pytest.mark.parametrize("amount", ["", "0", "-5", "abc", "1.5", "9" * 40, "10000000", "\x00"])
def test_odd_top_up_amounts_explain_and_change_nothing(client_in, user, amount):
    response = client_in.post(reverse("wallet-top-up"), {"amount": amount}, follow=True)
    assert response.status_code == 200
    assert "Top-up not made" in response.content.decode()
    assert _balance(user) == 0


def test_my_tickets_shows_paid_held_and_expired(
    client_in, user, schedule, django_assert_num_queries
):
    seats = [_free_seat(schedule, n, price=1_000) for n in range(1, 5)]
    ids = [_hold(client_in, schedule, seat) for seat in seats[:3]]
    wallet_charge(user=user, amount=10_000)
    payment_create(user=user, reservation_id=ids[0])
    Reservation.objects.filter(pk=ids[2]).update(expires_at=timezone.now() - timedelta(seconds=1))
    # count, page, seats waiting lists hold for the buyer, balance (the session comes from
    # Redis, its user from this worker's memory)
    with django_assert_num_queries(4):
        page = client_in.get(reverse("tickets")).content.decode()
    assert "badge--paid" in page and "badge--held" in page and "badge--expired" in page
    assert re.search(r"Held · \d+ min( \d+ s)? left", page)
    assert reverse("booking-checkout", args=[ids[1]]) in page


@pytest.mark.parametrize("page_number", ["abc", "-1", "99999999999999999999"])
def test_my_tickets_survives_odd_page_numbers(client_in, page_number):
    assert client_in.get(reverse("tickets"), {"page": page_number}).status_code == 200


@pytest.mark.parametrize(
    ("name", "args", "data"),
    [
        ("booking-pay", [1], {}),
        ("booking-release", [1], {}),
        ("wallet-top-up", [], {"amount": "100"}),
    ],
)
def test_money_forms_require_csrf(user, name, args, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    session = client.session
    session_token_set(session, admit(user))
    session.save()
    assert client.post(reverse(name, args=args), data).status_code == 403
