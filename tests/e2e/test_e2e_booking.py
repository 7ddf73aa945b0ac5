"""In a real browser, the whole sale: queue, admission, seat, top-up, payment, and the console."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from booking.models import Reservation, Seat
from queueing.services import queue_promote, queue_settings_update
from tests.e2e.helpers import sign_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def _join_queue(page: Page, concert) -> None:
    page.goto(f"/concerts/{concert.pk}")
    page.get_by_role("button", name="Join the queue").click()
    expect(page.get_by_role("heading", name="You are in the queue")).to_be_visible()


def _operator_sets_capacity(page: Page, capacity: int) -> None:
    get_user_model().objects.create_superuser("op", "op@example.com", "op-pass-123")
    page.goto("/admin/")
    page.get_by_label("Username").fill("op")
    page.get_by_label("Password").fill("op-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Queue rooms").first.click()
    expect(page.get_by_role("heading", name="Queue console")).to_be_visible()
    site = page.locator('[data-room="site"]')
    expect(site.locator('[data-stat="waiting"]')).to_have_text("1")
    expect(site.locator('[data-stat="active"]')).to_have_text("1")
    site.get_by_role("link", name="Site-wide room").click()
    page.get_by_label("Capacity").fill(str(capacity))
    page.get_by_role("button", name="Apply settings").click()
    expect(page.get_by_text("Room settings saved")).to_be_visible()
    expect(page.get_by_label("Capacity")).to_have_value(str(capacity))


def test_a_buyer_queues_pays_and_gets_a_ticket(new_page, concert, screenshot, settings):
    # One buyer at a time, and waiting pages that poll every couple of seconds.
    queue_settings_update(capacity=1, admit_per_tick=10, abandon_seconds=8)

    bob = new_page()
    sign_up(bob, "bob")
    _join_queue(bob, concert)
    alice = new_page()
    sign_up(alice, "alice")
    _join_queue(alice, concert)
    expect(alice.locator('[data-field="position"]')).to_have_text("2")
    expect(alice.locator('[data-field="ahead"]')).to_have_text("1")
    screenshot(alice, "waiting-room")

    # A tick admits the one ahead; Alice's page sees herself move up without a reload.
    queue_promote()
    expect(bob.get_by_role("heading", name="Choose a date")).to_be_visible()
    expect(alice.locator('[data-field="position"]')).to_have_text("1")
    expect(alice.locator('[data-field="ahead"]')).to_have_text("0")
    assert queue_promote() == 0  # the house is full

    # The operator makes room in the console; the next tick lets Alice in and her page moves on.
    operator = new_page()
    _operator_sets_capacity(operator, 2)
    screenshot(operator, "queue-console")
    queue_promote()
    expect(alice.get_by_role("heading", name="Choose a date")).to_be_visible()

    alice.get_by_role("link", name="seats left").click()
    expect(alice.get_by_role("heading", name="Choose a seat")).to_be_visible()
    alice.get_by_role("button", name="Row A, seat 5, VIP, 150,000").click()
    expect(alice.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(alice.locator("[data-clock]")).to_have_text(re.compile(r"^[45]:\d\d$"))
    expect(alice.get_by_text("Your balance is 150,000 short")).to_be_visible()
    alice.mouse.move(0, 0)
    screenshot(alice, "checkout")

    # Paying with too little money is refused politely; a top-up fixes it.
    alice.get_by_role("button", name="Pay 150,000").click()
    expect(alice.get_by_text("Your balance is too low")).to_be_visible()
    alice.get_by_label("Top up your balance").fill("200000")
    alice.get_by_role("button", name="Top up").click()
    expect(alice.get_by_text("it is now 200,000")).to_be_visible()
    alice.get_by_role("button", name="Pay 150,000").click()
    expect(alice.get_by_text("You're going!")).to_be_visible()
    expect(alice.get_by_text("Payment complete. Enjoy the show!")).to_be_visible()

    alice.get_by_role("navigation", name="Main").get_by_role("link", name="My tickets").click()
    ticket = alice.locator(".ticket-line").first
    expect(ticket).to_contain_text("Midnight Echoes Tour")
    expect(ticket).to_contain_text("Row A, seat 5")
    expect(ticket.locator(".badge--paid")).to_have_text("Paid")
    expect(alice.get_by_text("Balance 50,000")).to_be_visible()
    screenshot(alice, "my-tickets")

    # Bob, still in the booking flow, now sees that seat as sold.
    bob.get_by_role("link", name="seats left").click()
    sold = bob.get_by_role("button", name="Row A, seat 5, sold")
    expect(sold).to_be_disabled()
    expect(sold).to_have_class(re.compile("seat--sold"))


def test_an_expiring_hold_tells_the_buyer(new_page, concert, settings):
    settings.HOLD_SECONDS = 3
    page = new_page()
    sign_up(page, "carol")
    _join_queue(page, concert)
    queue_promote()
    expect(page.get_by_role("heading", name="Choose a date")).to_be_visible()
    page.get_by_role("link", name="seats left").click()
    page.get_by_role("button", name="Row C, seat 25, R, 110,000").click()
    expect(page.locator("[data-clock]")).to_be_visible()
    # The countdown runs out, the page reloads itself and says what happened.
    expect(page.get_by_text("Your hold on this seat has expired")).to_be_visible(timeout=10_000)
    expect(page.get_by_role("button", name=re.compile("^Pay"))).to_have_count(0)

    # A Pay pressed on a page that had not noticed yet gets the service's friendly answer.
    settings.HOLD_SECONDS = 300
    page.get_by_role("link", name="Choose a seat again").click()
    page.get_by_role("button", name="Row C, seat 26, R, 110,000").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    reservation = Reservation.objects.get(seat__number=26)
    past = timezone.now() - timedelta(seconds=1)
    Reservation.objects.filter(pk=reservation.pk).update(expires_at=past)
    Seat.objects.filter(pk=reservation.seat_id).update(held_until=past)
    page.get_by_role("button", name="Pay 110,000").click()
    expect(page.get_by_text("This hold has expired or was released")).to_be_visible()
    assert "Traceback" not in page.content()


def test_leaving_the_queue_is_one_click(new_page, concert):
    page = new_page()
    sign_up(page, "dan")
    _join_queue(page, concert)
    page.get_by_role("button", name="Leave the queue").click()
    expect(page.get_by_text("You have left the queue.")).to_be_visible()
    page.goto(f"/book/concerts/{concert.pk}/dates")
    expect(page.get_by_text("You need a place in the queue")).to_be_visible()
