"""The rooms' figures in /metrics after real queue activity, and a room whose Redis is away."""

import pytest
from django.test import Client

from booking.models import Concert
from concertbooking.redis import queue_redis
from concertbooking.tests.scrape import scrape, value
from queueing import services, store
from queueing.keys import room_keys
from queueing.selectors import room_of_concert, site_room

pytestmark = pytest.mark.django_db


def _stale(room: str, user_id: int) -> None:
    """The place looks unpolled for an hour (see test_history)."""
    key = room_keys(room).poll(user_id)
    joined = int(queue_redis().hget(key, user_id).decode().split(":")[0]) - 3_600_000
    queue_redis().hset(key, user_id, f"{joined}:{joined}")


def test_rooms_after_real_activity(make_users, queue_settings):
    queue_settings(admit_per_tick=3, capacity=100, mode="fifo")
    concert = Concert.objects.create(title="T", performer="P", venue="V")
    services.room_save(concert_id=concert.pk, sale_starts_at=None, mode="fifo")
    users = make_users(8)
    for user in users[:6]:
        services.queue_token_issue(user_id=user.pk)
    for user in users[6:]:
        services.queue_token_issue(user_id=user.pk, concert_id=concert.pk)
    _stale("main", users[5].pk)
    services.queue_promote_tick(config=site_room())  # admits 3, drops the stale one

    scraped = scrape(Client())
    main = {"room": "main"}
    assert value(scraped, "concertbooking_queue_room_up", **main) == 1
    assert value(scraped, "concertbooking_queue_waiting", **main) == 2
    assert value(scraped, "concertbooking_queue_prequeued", **main) == 0
    assert value(scraped, "concertbooking_queue_active", **main) == 3
    assert value(scraped, "concertbooking_queue_admitted_total", **main) == 3
    assert value(scraped, "concertbooking_queue_abandoned_total", **main) == 1
    figures = store.figures(room="main")
    assert value(scraped, "concertbooking_queue_admitted_per_minute", **main) == round(
        figures.rate * 60, 1
    )
    assert value(scraped, "concertbooking_queue_median_wait_seconds", **main) >= 0

    room = {"room": room_of_concert(concert.pk).name}
    assert value(scraped, "concertbooking_queue_waiting", **room) == 2
    assert value(scraped, "concertbooking_queue_admitted_total", **room) == 0
    # No admission yet: no median to speak of.
    assert value(scraped, "concertbooking_queue_median_wait_seconds", **room) is None


def test_a_room_whose_redis_is_away_reports_down_and_the_scrape_answers(queue_redis_at):
    queue_redis_at("redis://127.0.0.1:1/0")
    scraped = scrape(Client())
    assert value(scraped, "concertbooking_queue_room_up", room="main") == 0
    assert value(scraped, "concertbooking_queue_waiting", room="main") is None
    # The database's figures are still there.
    assert value(scraped, "concertbooking_holds_active") == 0
