"""Cancelling a ticket from its page: the offer, the confirmation step and the outcome."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from booking import services as booking_services
from booking.models import Reservation, ReservationStatus, Seat, SeatStatus
from booking.tests.factories import SeatFactory
from payments.models import LedgerEntry, LedgerKind
from payments.selectors import wallet_balance
from payments.tests.conftest import snapshot
from payments.tests.test_cancellations import checked_in, paid_ticket, show_moves_to

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user) -> Client:
    """The buyer's signed-in session; no queue place (the sale is over)."""
    client = Client()
    client.force_login(user)
    return client


def ticket_page(client: Client, reservation_id: int) -> str:
    response = client.get(reverse("ticket-detail", args=[reservation_id]))
    assert response.status_code == 200
    return response.content.decode()


def cancel_form(client: Client, reservation_id: int) -> tuple[str, str]:
    """The confirmation page and its form's idempotency key."""
    response = client.get(reverse("ticket-cancel", args=[reservation_id]))
    assert response.status_code == 200
    page = response.content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    return page, key


def test_a_paid_ticket_offers_to_cancel_until_the_deadline(browser, user, settings):
    settings.CANCEL_FEE_PERCENT = 10
    reservation_id = paid_ticket(user)
    page = ticket_page(browser, reservation_id)
    assert f'href="/tickets/{reservation_id}/cancel"' in page
    assert "Cancel ticket" in page
    assert "You can cancel this ticket until" in page
    assert "72,000 back to your balance (8,000 cancellation fee)" in page


def test_the_confirmation_shows_the_refund_the_fee_and_the_deadline(browser, user, settings):
    settings.CANCEL_FEE_PERCENT = 10
    reservation_id = paid_ticket(user, extra=500)
    starts_at = timezone.localtime(
        Reservation.objects.get(pk=reservation_id).seat.schedule.starts_at
    )
    page, key = cancel_form(browser, reservation_id)
    assert "Cancel this ticket?" in page
    assert "data-fee>8,000<" in page and "data-refund>72,000<" in page
    assert "80,000" in page and "500" in page  # paid, and the balance now
    deadline = starts_at - timedelta(hours=settings.CANCEL_UNTIL_HOURS)
    assert f"{deadline:%H:%M}" in page and str(deadline.day) in page
    assert "Yes, cancel" in page and "Keep my ticket" in page
    assert key.startswith("page-")
    # Looking changes nothing.
    assert Reservation.objects.get(pk=reservation_id).status == ReservationStatus.PAID


def test_confirming_cancels_and_says_what_was_refunded(browser, user):
    reservation_id = paid_ticket(user, extra=1_000)
    _, key = cancel_form(browser, reservation_id)

    response = browser.post(
        reverse("ticket-cancel", args=[reservation_id]), {"idempotency_key": key}, follow=True
    )

    assert response.redirect_chain == [(f"/tickets/{reservation_id}", 302)]
    page = response.content.decode()
    assert (
        "Your ticket is cancelled and 80,000 went back to your balance; it is now 81,000." in page
    )
    assert "Cancelled" in page and "Cancel ticket" not in page
    reservation = Reservation.objects.get(pk=reservation_id)
    assert reservation.status == ReservationStatus.CANCELLED
    assert Seat.objects.get(pk=reservation.seat_id).status == SeatStatus.AVAILABLE
    assert wallet_balance(user_id=user.pk) == 81_000

    # The same form sent again (a double click, a reload) reports the one cancellation.
    before = snapshot()
    again = browser.post(
        reverse("ticket-cancel", args=[reservation_id]), {"idempotency_key": key}, follow=True
    )
    assert "80,000 went back to your balance; it is now 81,000." in again.content.decode()
    assert snapshot() == before
    assert LedgerEntry.objects.filter(kind=LedgerKind.REFUND).count() == 1
    # A cancelled ticket has nothing to confirm.
    response = browser.get(reverse("ticket-cancel", args=[reservation_id]))
    assert response["Location"] == f"/tickets/{reservation_id}"


def test_a_fee_is_named_in_the_message(browser, user, settings):
    settings.CANCEL_FEE_PERCENT = 10
    reservation_id = paid_ticket(user)
    _, key = cancel_form(browser, reservation_id)
    response = browser.post(
        reverse("ticket-cancel", args=[reservation_id]), {"idempotency_key": key}, follow=True
    )
    assert "72,000 went back to your balance (a cancellation fee of 8,000 was kept)" in (
        response.content.decode()
    )


def test_past_the_deadline_the_page_says_until_when_and_offers_no_button(browser, user):
    reservation_id = paid_ticket(user)
    show_moves_to(reservation_id, timezone.now() + timedelta(hours=3))
    page = ticket_page(browser, reservation_id)
    assert "This ticket could be cancelled until" in page
    assert "Cancel ticket" not in page
    response = browser.get(reverse("ticket-cancel", args=[reservation_id]))
    assert response["Location"] == f"/tickets/{reservation_id}"


def test_a_form_sent_after_the_deadline_is_refused_with_a_message(browser, user):
    reservation_id = paid_ticket(user)
    _, key = cancel_form(browser, reservation_id)
    show_moves_to(reservation_id, timezone.now() + timedelta(hours=3))
    before = snapshot()
    response = browser.post(
        reverse("ticket-cancel", args=[reservation_id]), {"idempotency_key": key}, follow=True
    )
    assert "Tickets for this date could be cancelled until" in response.content.decode()
    assert snapshot() == before


def test_a_checked_in_ticket_says_so(browser, user):
    reservation_id = paid_ticket(user)
    checked_in(reservation_id)
    page = ticket_page(browser, reservation_id)
    assert "checked in at the door" in page and "Cancel ticket" not in page


def test_someone_elses_ticket_is_not_found(browser, other_user):
    reservation_id = paid_ticket(other_user)
    before = snapshot()
    assert browser.get(reverse("ticket-cancel", args=[reservation_id])).status_code == 404
    response = browser.post(reverse("ticket-cancel", args=[reservation_id]))
    assert response.status_code == 404
    assert snapshot() == before


def test_a_hold_offers_no_cancel(browser, user):
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)
    response = browser.get(reverse("ticket-cancel", args=[hold["reservation_id"]]))
    assert response["Location"] == f"/tickets/{hold['reservation_id']}"


def test_signed_out_visitors_are_sent_to_sign_in(user):
    reservation_id = paid_ticket(user)
    response = Client().get(reverse("ticket-cancel", args=[reservation_id]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_my_tickets_says_until_when_a_ticket_can_be_cancelled(browser, user):
    open_id = paid_ticket(user)
    late_id = paid_ticket(user)
    show_moves_to(late_id, timezone.now() + timedelta(hours=3))
    page = browser.get(reverse("tickets")).content.decode()
    assert page.count("cancellable until") == 1
    assert open_id != late_id
