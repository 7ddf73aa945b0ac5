"""In a real browser, a concert's own waiting room: the pre-queue and its draw, a sold-out house
that opens up again, and the join and leave controls used from the keyboard alone."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from booking.models import Seat, SeatStatus
from booking.services import rooms_free_seats_count
from queueing import tokens
from queueing.selectors import room_of_concert
from queueing.services import queue_promote_all, room_save
from tests.e2e.helpers import sign_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# Pages poll every couple of seconds when a waiter must poll within this many seconds.
ABANDON_SECONDS = 8


def _figure(page: Page, name: str):
    return page.locator(f'[data-field="{name}"]')


def test_the_pre_queue_draws_places_at_the_start(new_page, concert, screenshot):
    buyers = {}
    for name in ("erin", "frank"):
        buyers[name] = new_page()
        sign_up(buyers[name], name)
    room_save(
        concert_id=concert.pk,
        sale_starts_at=timezone.now() + timedelta(seconds=15),
        capacity=1,
        admit_per_tick=10,
        abandon_seconds=ABANDON_SECONDS,
    )
    config = room_of_concert(concert.pk)
    users = {u.username: u for u in get_user_model().objects.filter(username__in=buyers)}
    draw_ids = {name: tokens.draw_id(room=config.name, user_id=users[name].pk) for name in buyers}

    for name, page in buyers.items():
        page.goto(f"/concerts/{concert.pk}")
        expect(page.get_by_role("timer", name="Tickets on sale in")).to_be_visible()
        expect(page.get_by_text(config.seed_sha256)).to_be_visible()
        screenshot(page, "concert-pre-queue", full_page=True)
        page.get_by_role("button", name="Join the pre-queue").click()
        expect(page.get_by_role("heading", name="You are in the pre-queue")).to_be_visible()
        clock = page.get_by_role("timer", name="Sale starts in").locator("[data-clock]")
        expect(clock).to_have_text(re.compile(r"^0:\d\d$"))
        expect(_figure(page, "draw-id")).to_have_text(draw_ids[name])
        expect(_figure(page, "seed-hash")).to_have_text(config.seed_sha256)
    screenshot(buyers["erin"], "pre-queue")

    # The start passes; each page turns into a place in the queue by itself, in the draw's
    # order, which anyone can recompute from the seed published now.
    order = sorted(buyers, key=lambda n: tokens.draw_key(seed=config.seed, draw_id=draw_ids[n]))
    for position, name in enumerate(order, start=1):
        page = buyers[name]
        expect(page.get_by_role("heading", name="You are in the queue")).to_be_visible(
            timeout=20_000
        )
        expect(_figure(page, "position")).to_have_text(str(position))
        expect(_figure(page, "status")).to_have_text(
            f"The draw is done: you are number {position} in the queue."
        )
        expect(_figure(page, "draw-id")).to_be_hidden()

    # One seat in the booking flow at a time: the first of the draw goes first.
    assert queue_promote_all() == 1
    first, second = (buyers[name] for name in order)
    expect(first.get_by_role("heading", name="Choose a date")).to_be_visible()
    expect(_figure(second, "position")).to_have_text("1")
    expect(_figure(second, "ahead")).to_have_text("0")

    room_save(concert_id=concert.pk, capacity=2)
    assert queue_promote_all() == 1
    expect(second.get_by_role("heading", name="Choose a date")).to_be_visible()


def test_a_sold_out_house_keeps_the_place_until_a_seat_comes_back(
    new_page, concert, settings, screenshot
):
    # Seats are counted by hand here; the count must outlive the gaps between the steps.
    settings.QUEUE_PROMOTE_INTERVAL_SECONDS = 30
    room_save(concert_id=concert.pk, capacity=5, abandon_seconds=ABANDON_SECONDS)
    now = timezone.now()
    Seat.objects.filter(schedule__concert=concert, status=SeatStatus.AVAILABLE).update(
        status=SeatStatus.HELD, held_until=now + timedelta(minutes=5)
    )
    rooms_free_seats_count()

    page = new_page()
    sign_up(page, "gina")
    page.goto(f"/concerts/{concert.pk}")
    page.get_by_role("button", name="Join the queue").click()
    expect(page.get_by_role("heading", name="Sold out right now")).to_be_visible()
    expect(page.get_by_text("Every seat is sold or held by other buyers right now")).to_be_visible()
    expect(page.get_by_text("this page keeps checking")).to_be_visible()
    expect(_figure(page, "position")).to_have_text("1")
    expect(page.get_by_role("button", name="Leave the queue")).to_be_visible()
    screenshot(page, "waiting-room-sold-out")
    assert queue_promote_all() == 0  # nobody is let in to a sold-out house

    # A hold runs out unpaid: the seat is free again, the next count says so, and the page
    # notices by itself.
    seat = Seat.objects.filter(schedule__concert=concert, status=SeatStatus.HELD).first()
    Seat.objects.filter(pk=seat.pk).update(held_until=timezone.now() - timedelta(seconds=1))
    rooms_free_seats_count()
    expect(page.get_by_role("heading", name="You are in the queue")).to_be_visible(timeout=10_000)
    expect(_figure(page, "status")).to_have_text("Seats are available again; your place is kept.")
    expect(_figure(page, "chance")).to_have_text("100%")
    screenshot(page, "waiting-room-chance")

    assert queue_promote_all() == 1
    expect(page.get_by_role("heading", name="Choose a date")).to_be_visible()


def _tab_to(page: Page, name: str, limit: int = 40) -> None:
    """Press Tab until the element named `name` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => (document.activeElement.innerText || '').trim()")
        if focused == name:
            return
    raise AssertionError(f"{name!r} cannot be reached with the Tab key")


def test_joining_and_leaving_work_from_the_keyboard(new_page, concert):
    room_save(concert_id=concert.pk, abandon_seconds=ABANDON_SECONDS)
    page = new_page()
    sign_up(page, "hana")
    page.goto(f"/concerts/{concert.pk}")

    _tab_to(page, "Join the queue")
    expect(page.get_by_role("button", name="Join the queue")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="You are in the queue")).to_be_visible()

    # The figures that change are read out as they change.
    for name in ("position", "ahead", "wait"):
        expect(page.locator(f'[aria-live="polite"] [data-field="{name}"]')).to_have_count(1)
    expect(page.locator('[role="status"][data-field="status"]')).to_have_count(1)

    _tab_to(page, "Leave the queue")
    page.keyboard.press("Enter")
    expect(page.get_by_text("You have left the queue.")).to_be_visible()


def test_the_pre_queue_button_waits_for_the_pre_queue(new_page, concert, settings):
    room_save(
        concert_id=concert.pk,
        sale_starts_at=timezone.now() + timedelta(minutes=settings.PREQUEUE_MINUTES + 5),
    )
    page = new_page()
    sign_up(page, "ivan")
    page.goto(f"/concerts/{concert.pk}")
    clock = page.get_by_role("timer", name="Tickets on sale in").locator("[data-clock]")
    expect(clock).to_have_text(re.compile(r"^3[45]:\d\d$"))
    expect(page.get_by_text("The queue is not open yet.")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Join"))).to_have_count(0)
