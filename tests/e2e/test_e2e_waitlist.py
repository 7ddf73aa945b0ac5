"""In a real browser: a buyer waits for a sold-out date, a ticket is refunded, and the seat held
for them is paid at checkout without the waiting room."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from booking import services as booking_services
from booking.models import Concert, ConcertSchedule, Seat, WaitlistEntry
from booking.tests.factories import UserFactory
from concertbooking.celery import app as celery_app
from payments import services as payment_services
from tests.e2e.helpers import sign_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.fixture
def celery_eager():
    """The offer's email is sent as its transaction commits, as under `make run`."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def sold_out_date():
    """A concert whose one date has two seats, both sold; (date, the paid reservation ids)."""
    concert = Concert.objects.create(
        title="Silver Lanterns Tour", performer="Kite Theory", venue="Garden Theatre"
    )
    schedule = ConcertSchedule.objects.create(
        concert=concert, starts_at=timezone.now() + timedelta(days=10)
    )
    booking_services.schedule_seats_generate(
        schedule=schedule, rows=1, seats_per_row=2, tiers=[("R", 1, 110_000)]
    )
    paid = []
    for seat in Seat.objects.filter(schedule=schedule).order_by("number"):
        buyer = UserFactory()
        payment_services.wallet_charge(user=buyer, amount=seat.price)
        hold = booking_services.reservation_hold(user=buyer, seat_id=seat.pk)
        payment_services.payment_create(user=buyer, reservation_id=hold["reservation_id"])
        paid.append(hold["reservation_id"])
    return schedule, paid


def test_a_buyer_waits_for_a_sold_out_date_and_pays_the_seat_it_offers(
    page, sold_out_date, live_server, settings, celery_eager, screenshot
):
    settings.SITE_URL = live_server.url
    schedule, paid = sold_out_date
    sign_up(page, "dora")

    # From the concert's page to its waiting lists, no queue in between.
    page.goto(f"/concerts/{schedule.concert_id}")
    page.get_by_role("link", name="Join its waiting list").click()
    expect(page.get_by_role("heading", name="Waiting lists")).to_be_visible()
    expect(page.locator(".badge--sold")).to_have_text("Sold out")
    page.get_by_role("button", name="Join the waiting list").click()
    expect(page.get_by_text("number 1 in line")).to_have_count(2)  # the message and the row
    screenshot(page, "waiting-list")

    # Another buyer's ticket is refunded: the seat is held for Dora and she is told.
    payment_services.payment_refund(reservation_id=paid[0])
    entry = WaitlistEntry.objects.get(user__username="dora")
    (message,) = mail.outbox
    link = re.search(r"http\S+/book/checkout/\d+", message.body).group(0)
    assert link == f"{live_server.url}/book/checkout/{entry.offer_id}"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My tickets").click()
    expect(page.get_by_text("A seat is held for you until")).to_be_visible()
    page.get_by_role("link", name="Pay now").first.click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    assert "/queue/" not in page.url
    page.get_by_label("Top up your balance").fill("110000")
    page.get_by_role("button", name="Top up").click()
    expect(page.get_by_text("it is now 110,000")).to_be_visible()
    page.get_by_role("button", name="Pay 110,000").click()
    expect(page.get_by_text("You're going!")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My tickets").click()
    ticket = page.locator(".ticket-line").first
    expect(ticket).to_contain_text("Silver Lanterns Tour")
    expect(ticket.locator(".badge--paid")).to_have_text("Paid")
    expect(page.get_by_text("A seat is held for you until")).to_have_count(0)
    entry.refresh_from_db()
    assert entry.status == "purchased"
