"""In a real browser, the queue console's chart of the last hour."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from concertbooking.redis import queue_redis
from queueing.keys import room_keys
from queueing.services import queue_promote, queue_settings_update, queue_token_issue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_the_console_draws_the_last_hour(page, screenshot):
    queue_settings_update(admit_per_tick=3)
    User = get_user_model()
    for i in range(6):
        queue_token_issue(user_id=User.objects.create_user(f"waiter{i}", password="!").pk)
    now = queue_redis().time()[0] // 60
    earlier = {f"w{now - m}": 40 - m for m in range(2, 40)}
    earlier |= {f"a{now - m}": m % 7 for m in range(2, 40)}
    queue_redis().hset(room_keys("main").history, mapping=earlier)
    queue_promote()

    User.objects.create_superuser("op", "op@example.com", "op-pass-123")
    page.goto("/admin/")
    page.get_by_label("Username").fill("op")
    page.get_by_label("Password").fill("op-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.goto("/admin/queueing/queueroom/room/site/")
    waiting = page.get_by_role("img", name="Waiting")
    admitted = page.get_by_role("img", name="Admitted per minute")
    expect(waiting).to_be_visible()
    expect(admitted).to_be_visible()
    assert waiting.bounding_box()["width"] > 300
    assert waiting.locator("polyline").first.bounding_box()["width"] > 100
    assert admitted.locator("rect").count() > 20
    expect(page.locator('[data-stat="abandoned_total"]')).to_have_text("0")
    screenshot(page, "queue-console-chart", full_page=True)
