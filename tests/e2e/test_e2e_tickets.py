"""In a real browser: a paid ticket's QR code and PDF, and its check-in on a phone at the door."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from booking.models import ConcertSchedule, Reservation
from queueing.services import queue_promote, queue_settings_update
from tests.e2e.conftest import PHONE
from tests.e2e.helpers import log_in, sign_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def _buyer_pays_for_a_seat(page: Page, concert) -> None:
    page.goto(f"/concerts/{concert.pk}")
    page.get_by_role("button", name="Join the queue").click()
    expect(page.get_by_role("heading", name="You are in the queue")).to_be_visible()
    queue_promote()
    expect(page.get_by_role("heading", name="Choose a date")).to_be_visible()
    page.get_by_role("link", name="seats left").click()
    page.get_by_role("button", name="Row A, seat 5, VIP, 150,000").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    page.get_by_label("Top up your balance").fill("150000")
    page.get_by_role("button", name="Top up").click()
    expect(page.get_by_text("it is now 150,000")).to_be_visible()
    page.get_by_role("button", name="Pay 150,000").click()
    expect(page.get_by_text("You're going!")).to_be_visible()


def _door_person(username: str, password: str) -> None:
    """An operator's grant: a user in the "Door staff" group (made by a migration; a flush
    between browser tests may have taken it, so it is made again here the same way)."""
    from importlib import import_module

    from django.apps import apps

    import_module("booking.migrations.0006_tickets_door_staff_group").door_staff_group_create(
        apps, None
    )
    person = get_user_model().objects.create_user(username, password=password)
    person.groups.add(Group.objects.get(name="Door staff"))


def test_a_paid_ticket_shows_its_qr_and_is_checked_in_once_at_the_door(
    new_page, concert, screenshot
):
    # Waiting pages that poll every couple of seconds.
    queue_settings_update(capacity=10, admit_per_tick=10, abandon_seconds=8)
    buyer = new_page()
    sign_up(buyer, "holly")
    _buyer_pays_for_a_seat(buyer, concert)

    ticket = Reservation.objects.get(user__username="holly")
    grouped = " ".join(ticket.ticket_code[i : i + 4] for i in range(0, 32, 4)).upper()
    qr = buyer.locator("[data-ticket-qr] svg")
    expect(qr).to_be_visible()
    expect(qr.locator("path")).to_have_count(1)
    expect(buyer.locator("[data-ticket-code]")).to_have_text(grouped)
    buyer.mouse.move(0, 0)
    screenshot(buyer, "ticket-qr", full_page=True)

    href = buyer.get_by_role("link", name="Download PDF").get_attribute("href")
    assert href == f"/tickets/{ticket.pk}.pdf"
    pdf = buyer.request.get(href)
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")

    # At the door: a phone, the show's date chosen, the code typed as a scanner types it.
    _door_person("gate", "gate-pass-phrase-42")
    door = new_page(viewport=PHONE)
    log_in(door, "gate", "gate-pass-phrase-42")
    door.goto("/check-in/")
    date = ConcertSchedule.objects.filter(concert=concert).order_by("starts_at").first()
    door.get_by_label("Date at this door").select_option(str(date.pk))
    code = door.get_by_label("Ticket code")
    expect(code).to_be_focused()
    code.fill(grouped)
    code.press("Enter")
    verdict = door.locator("[data-check-in]")
    expect(verdict).to_have_attribute("data-check-in", "ok")
    expect(verdict).to_contain_text("Checked in: row A seat 5, holly")
    expect(door.get_by_label("Date at this door")).to_have_value(str(date.pk))
    screenshot(door, "door-checked-in")

    door.get_by_label("Ticket code").fill(ticket.ticket_code)
    door.get_by_label("Ticket code").press("Enter")
    expect(verdict).to_have_attribute("data-check-in", "already_checked_in")
    expect(verdict).to_contain_text("Already checked in")
    screenshot(door, "door-already-in")
