"""In a real browser: a buyer cancels a paid ticket and the seat is on the seat map again."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from booking.models import Seat
from booking.services import reservation_hold
from payments.services import payment_create, wallet_charge
from queueing.services import queue_promote
from tests.e2e.helpers import sign_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_a_buyer_cancels_a_ticket_and_the_seat_is_for_sale_again(page, concert, screenshot):
    sign_up(page, "erin")
    erin = get_user_model().objects.get(username="erin")
    # Erin bought Row A, seat 5 a week before the show, with 20,000 left over.
    seat = Seat.objects.get(schedule__concert=concert, number=5)
    hold = reservation_hold(user=erin, seat_id=seat.pk)
    wallet_charge(user=erin, amount=170_000)
    payment_create(user=erin, reservation_id=hold["reservation_id"])

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My tickets").click()
    ticket = page.locator(".ticket-line").first
    expect(ticket).to_contain_text("cancellable until")
    ticket.get_by_role("link", name="Midnight Echoes Tour").click()
    expect(page.get_by_text("You're going!")).to_be_visible()
    expect(page.get_by_text("150,000 back to your balance")).to_be_visible()
    screenshot(page, "ticket-cancellable")

    page.get_by_role("link", name="Cancel ticket").click()
    expect(page.get_by_role("heading", name="Cancel this ticket?")).to_be_visible()
    expect(page.locator("[data-refund]")).to_have_text("150,000")
    expect(page.locator("[data-fee]")).to_have_text("0")
    screenshot(page, "ticket-cancel-confirm")

    # Keeping it changes nothing; then she decides to cancel after all.
    page.get_by_role("link", name="Keep my ticket").click()
    expect(page.get_by_text("You're going!")).to_be_visible()
    page.get_by_role("link", name="Cancel ticket").click()
    page.get_by_role("button", name="Yes, cancel").click()

    expect(
        page.get_by_text(
            "Your ticket is cancelled and 150,000 went back to your balance; it is now 170,000."
        )
    ).to_be_visible()
    expect(page.locator(".ticket__eyebrow")).to_have_text("Cancelled")
    expect(page.get_by_role("link", name="Cancel ticket")).to_have_count(0)
    page.get_by_role("link", name="All my tickets").click()
    expect(page.locator(".ticket-line").first.locator(".badge--cancelled")).to_have_text(
        "Cancelled"
    )
    expect(page.get_by_text("Balance 170,000")).to_be_visible()

    # Back in the sale, the seat is free on the map.
    page.goto(f"/concerts/{concert.pk}")
    page.get_by_role("button", name="Join the queue").click()
    queue_promote()
    expect(page.get_by_role("heading", name="Choose a date")).to_be_visible()
    page.get_by_role("link", name="seats left").first.click()
    free = page.get_by_role("button", name="Row A, seat 5, VIP, 150,000")
    expect(free).to_be_enabled()
    expect(free).not_to_have_class(re.compile("seat--sold"))
