"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

# Playwright's sync API runs an event loop in this thread; Django's ORM, called from the same
# thread to set data up, would otherwise refuse to run "inside" it.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Screenshots for the docs are written only when asked for, so a test run leaves the tree clean.
SCREENSHOT_DIR = os.environ.get("E2E_SCREENSHOT_DIR")
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _rate_limits_on(rate_limits):
    """A buyer's ordinary path through the pages never meets a rate limit."""


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """Opens a fresh browser (own cookies) on the live server; several may run side by side."""
    contexts = []

    def open_page(viewport: dict | None = None):
        context = browser.new_context(base_url=live_server.url, viewport=viewport or DESKTOP)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def screenshot():
    def take(page, name: str, *, full_page: bool = False) -> None:
        if SCREENSHOT_DIR:
            Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SCREENSHOT_DIR) / f"{name}.png"), full_page=full_page)

    return take


@pytest.fixture
def concert():
    """A concert with two dates; the first has a seat map with some seats sold or held."""
    from booking.models import Concert, ConcertSchedule, Seat
    from booking.services import schedule_seats_generate

    concert = Concert.objects.create(
        title="Midnight Echoes Tour",
        performer="Nova Choir",
        venue="Olympic Hall",
        description="An evening of live music. Doors open an hour before the show.",
    )
    first = ConcertSchedule.objects.create(
        concert=concert, starts_at=timezone.now() + timedelta(days=7)
    )
    ConcertSchedule.objects.create(concert=concert, starts_at=timezone.now() + timedelta(days=14))
    schedule_seats_generate(
        schedule=first,
        rows=8,
        seats_per_row=12,
        tiers=[("VIP", 2, 150_000), ("R", 3, 110_000), ("S", 3, 80_000)],
    )
    # Some seats already gone, so the map shows every state.
    seats = Seat.objects.filter(schedule=first).order_by("number")
    Seat.objects.filter(pk__in=[s.pk for s in seats[14:18]]).update(status="sold")
    Seat.objects.filter(pk__in=[s.pk for s in seats[40:42]]).update(
        status="held", held_until=timezone.now() + timedelta(minutes=5)
    )
    return concert
