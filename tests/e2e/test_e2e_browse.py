"""In a real browser: accounts, browsing to a seat map, and the operator's seat-map generation."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from booking.models import ConcertSchedule, Seat
from queueing.services import queue_promote
from tests.e2e.conftest import PHONE
from tests.e2e.helpers import log_in, sign_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_sign_up_log_out_and_log_in_again(page):
    sign_up(page, "carol")
    expect(page.locator(".site-nav__user")).to_have_text("carol")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    log_in(page, "carol", "a-long-pass-phrase-42")


def test_sign_up_explains_a_bad_password(page):
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill("dave")
    page.get_by_label("Password", exact=True).fill("123")
    page.get_by_label("Password confirmation").fill("123")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("This password is too short.")).to_be_visible()


def test_browse_from_home_to_the_seat_map(page, concert, screenshot):
    sign_up(page, "erin")
    page.goto("/")
    screenshot(page, "home")
    page.get_by_role("link", name="Midnight Echoes Tour").click()
    expect(page.get_by_role("heading", name="Midnight Echoes Tour")).to_be_visible()
    screenshot(page, "concert")
    page.get_by_role("button", name="Join the queue").click()

    expect(page.get_by_role("heading", name="You are in the queue")).to_be_visible()
    expect(page.locator('[data-field="position"]')).to_have_text("1")
    queue_promote()  # the beat's tick; the page notices by itself and moves on
    expect(page.get_by_role("heading", name="Choose a date")).to_be_visible()

    expect(page.get_by_text("Sold out", exact=True)).to_have_count(1)  # the date without a map
    screenshot(page, "dates")
    page.get_by_role("link", name="seats left").click()
    expect(page.get_by_role("heading", name="Choose a seat")).to_be_visible()
    expect(page.locator("button.seat--free")).to_have_count(96 - 4 - 2)
    expect(page.locator("button.seat--sold")).to_have_count(4)
    expect(page.locator("button.seat--held")).to_have_count(2)
    expect(page.get_by_text("150,000")).to_be_visible()

    # Keyboard: Tab reaches the seats, and the focused seat shows a ring.
    page.locator("button.seat--free").first.focus()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "Row A, seat 2, VIP, 150,000"
    ring = page.evaluate("getComputedStyle(document.activeElement).boxShadow")
    assert ring and ring != "none"
    page.mouse.move(0, 0)
    screenshot(page, "seat-map", full_page=True)


def test_seat_map_reads_on_a_phone(new_page, concert, screenshot):
    page = new_page(PHONE)
    sign_up(page, "frank")
    page.goto(f"/concerts/{concert.pk}")
    page.get_by_role("button", name="Join the queue").click()
    queue_promote()
    expect(page.get_by_role("heading", name="Choose a date")).to_be_visible()
    page.get_by_role("link", name="seats left").click()
    expect(page.get_by_role("heading", name="Choose a seat")).to_be_visible()
    # No sideways scrolling of the page itself: the seat grid scrolls inside its own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    seat = page.locator("button.seat--free").first.bounding_box()
    assert seat["width"] >= 24 and seat["height"] >= 24  # WCAG 2.2 target size
    screenshot(page, "seat-map-phone", full_page=True)


def test_operator_generates_a_seat_map_in_the_console(page, concert, screenshot):
    get_user_model().objects.create_superuser("op", "op@example.com", "op-pass-123")
    bare = ConcertSchedule.objects.filter(concert=concert, seats__isnull=True).get()
    page.goto("/admin/")
    page.get_by_label("Username").fill("op")
    page.get_by_label("Password").fill("op-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.goto("/admin/booking/concertschedule/")
    page.locator(f'input.action-select[value="{bare.pk}"]').check()
    page.locator('select[name="action"]').select_option("generate_seat_maps")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_role("heading", name="Generate seat maps")).to_be_visible()
    page.get_by_label("Rows").fill("6")
    page.get_by_label("Seats per row").fill("10")
    page.get_by_label("Tiers").fill("VIP, 1, 200000\nR, 2, 120000\nS, 3, 70000")
    screenshot(page, "admin-generate-seat-map")
    page.get_by_role("button", name="Generate seats").click()
    expect(page.get_by_text("Created 60 seats on 1 date(s).")).to_be_visible()

    page.goto(f"/admin/booking/seat/?schedule__id__exact={bare.pk}")
    expect(page.locator("#result_list tbody tr")).to_have_count(60)
    expect(page.locator("#result_list").get_by_text("200000").first).to_be_visible()
    assert Seat.objects.filter(schedule=bare, tier="S", price=70_000).count() == 30
