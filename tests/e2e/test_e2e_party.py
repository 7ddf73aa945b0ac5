"""In a real browser: a party's seats, best available together, held in one go and paid at once."""

import pytest
from playwright.sync_api import expect

from booking.models import Reservation
from payments.models import Payment
from queueing.services import queue_promote
from tests.e2e.helpers import sign_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_a_party_holds_the_best_three_together_and_pays_all(new_page, concert, screenshot):
    page = new_page()
    sign_up(page, "gina")
    page.goto(f"/concerts/{concert.pk}")
    page.get_by_role("button", name="Join the queue").click()
    queue_promote()
    expect(page.get_by_role("heading", name="Choose a date")).to_be_visible()
    page.get_by_role("link", name="seats left").click()
    expect(page.get_by_role("heading", name="Choose a seat")).to_be_visible()

    # Best available 3 together: the middle of the front VIP row, ticked on the map.
    page.get_by_label("Best available").fill("3")
    page.get_by_role("button", name="Find seats").click()
    picked = [f"Row A, seat {n}, VIP, 150,000" for n in (5, 6, 7)]
    for name in picked:
        expect(page.get_by_role("checkbox", name=name)).to_be_checked()
    expect(page.locator("[data-picked-count]")).to_have_text("3")
    expect(page.locator("[data-picked-total]")).to_have_text("450,000")

    # The script keeps the count and total live, and stops at the limit of four.
    page.get_by_role("checkbox", name="Row A, seat 8, VIP, 150,000").check()
    expect(page.locator("[data-picked-count]")).to_have_text("4")
    expect(page.locator("[data-picked-total]")).to_have_text("600,000")
    expect(page.get_by_role("checkbox", name="Row A, seat 9, VIP, 150,000")).to_be_disabled()
    page.get_by_role("checkbox", name="Row A, seat 8, VIP, 150,000").uncheck()
    expect(page.locator("[data-picked-count]")).to_have_text("3")
    expect(page.get_by_role("checkbox", name="Row A, seat 9, VIP, 150,000")).to_be_enabled()
    page.mouse.move(0, 0)
    screenshot(page, "seat-map-party", full_page=True)

    page.get_by_role("button", name="Hold these seats").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.get_by_role("heading", name="Your 3 seats")).to_be_visible()
    expect(page.locator("[data-party-seat]")).to_have_count(3)
    for number in (5, 6, 7):
        expect(page.get_by_text(f"Row A, seat {number} · VIP")).to_be_visible()
    expect(page.locator("[data-total]")).to_have_text("450,000")
    screenshot(page, "checkout-party")

    page.get_by_label("Top up your balance").fill("500000")
    page.get_by_role("button", name="Top up").click()
    expect(page.get_by_text("it is now 500,000")).to_be_visible()
    page.get_by_role("button", name="Pay all 450,000").click()
    expect(page.get_by_text("Payment complete: 3 tickets. Enjoy the show!")).to_be_visible()
    expect(page.locator(".ticket-line .badge--paid")).to_have_count(3)
    expect(page.get_by_text("Balance 50,000")).to_be_visible()
    assert Payment.objects.count() == 3
    assert sorted(Reservation.objects.values_list("seat__number", flat=True)) == [5, 6, 7]
