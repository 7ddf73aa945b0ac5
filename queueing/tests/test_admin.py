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
