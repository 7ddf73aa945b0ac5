"""The queue console: the site-wide room's settings saved through the service, and a concert
room opened from the console."""

import pytest

from booking.models import Concert
from queueing.models import QueueRoom
from queueing.selectors import room_of_concert, site_room

pytestmark = pytest.mark.django_db


def _form(**changes):
    return {
        "mode": "paused",
        "next_mode": "",
        "next_mode_at": "",
        "capacity": 40,
        "admit_per_tick": 5,
        "session_seconds": 300,
        "abandon_seconds": 60,
        **changes,
    }


def test_operator_saves_settings_and_they_apply_at_once(admin_client):
    assert site_room().capacity == 100  # settings.QUEUE_CAPACITY
    assert admin_client.get("/admin/queueing/queueroom/").status_code == 200
    response = admin_client.post("/admin/queueing/queueroom/room/site/", _form())
    assert response.status_code == 302, response.content
    assert QueueRoom.objects.get(concert__isnull=True).capacity == 40
    assert site_room().mode == "paused"
    assert admin_client.get("/admin/queueing/queueroom/room/site/").status_code == 200


def test_operator_opens_a_concert_room_and_schedules_a_mode(admin_client):
    concert = Concert.objects.create(title="T", performer="P", venue="V")
    response = admin_client.post(
        "/admin/queueing/queueroom/add/",
        {"concert": concert.pk, "sale_starts_at": "", "mode": "passthrough"},
    )
    assert response.status_code == 302, response.content
    assert room_of_concert(concert.pk).mode == "passthrough"
    url = f"/admin/queueing/queueroom/room/{concert.pk}/"
    page = admin_client.get(url)
    assert page.status_code == 200
    # A scheduled change needs its time.
    refused = admin_client.post(url, _form(mode="fifo", next_mode="closed"))
    assert refused.status_code == 200
    assert b"Say when the scheduled mode takes over." in refused.content
    saved = admin_client.post(
        url,
        _form(
            mode="fifo",
            next_mode="closed",
            next_mode_at="2030-01-01 10:00:00",
            sale_starts_at="",
        ),
    )
    assert saved.status_code == 302, saved.content
    room = room_of_concert(concert.pk)
    assert (room.mode, room.next_mode) == ("fifo", "closed")
    rooms = admin_client.get("/admin/queueing/queueroom/stats.json").json()["rooms"]
    assert [r["concert_id"] for r in rooms] == [None, concert.pk]
    assert admin_client.get("/admin/queueing/queueroom/room/999999/").status_code == 404


def test_the_console_draws_the_last_hour(admin_client, make_users, queue_settings):
    import re

    from concertbooking.redis import queue_redis
    from queueing import services
    from queueing.keys import room_keys

    queue_settings(admit_per_tick=2, capacity=100)
    for user in make_users(5):
        services.queue_token_issue(user_id=user.pk)
    seconds, _ = queue_redis().time()
    now = seconds // 60
    # Two earlier minutes as earlier ticks left them, and a minute with no tick between.
    queue_redis().hset(
        room_keys("main").history,
        mapping={f"w{now - 4}": 40, f"a{now - 4}": 10, f"w{now - 3}": 20, f"w{now - 1}": 8},
    )
    services.queue_promote_tick(config=site_room())

    page = admin_client.get("/admin/queueing/queueroom/room/site/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-stat="abandoned_total">0<' in html
    chart = html[html.index('id="queue-chart"') : html.index("</figure>")]
    # Drawn on the server: inline SVG, no script, nothing fetched from elsewhere.
    assert chart.count("<svg") == 2 and "<script" not in chart and "http" not in chart
    lines = re.findall(r'<polyline class="waiting" points="([^"]+)"', chart)
    # now-4 and now-3 joined; now-1 and the tick's minute joined (now-2 had no tick), unless
    # the tick ran in the next minute.
    assert [len(line.split()) for line in lines] in ([2, 2], [2, 1, 1])
    assert "top line 50" in chart  # 40 waiting at most: the scale's next round number
    bars = re.findall(r'<rect class="admitted"[^>]*><title>(\d+)</title>', chart)
    assert bars == ["10", "2"]
    assert "Admitted in the last hour: 12." in chart


def test_the_console_without_redis_says_so(admin_client, queue_redis_at):
    queue_redis_at("redis://127.0.0.1:1/0")
    page = admin_client.get("/admin/queueing/queueroom/room/site/")
    assert page.status_code == 200
    assert page.content.decode().count('class="errornote"') == 2
    assert admin_client.get("/admin/queueing/queueroom/").status_code == 200
