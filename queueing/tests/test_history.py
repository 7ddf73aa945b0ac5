"""What the promotion tick keeps for the console and the metrics: the all-time count of abandoned
places and the room's per-minute history of the last hour, over real Redis."""

import pytest

from concertbooking.redis import queue_redis
from queueing import services, store
from queueing.keys import HISTORY_MINUTES, room_keys
from queueing.selectors import site_room

pytestmark = pytest.mark.django_db

ROOM = "main"


def _redis_minute() -> int:
    """The minute the scripts see: they read Redis's clock, not this process's."""
    seconds, _ = queue_redis().time()
    return seconds // 60


def _tick() -> store.PromoteResult:
    return services.queue_promote_tick(config=site_room())


def _issue(users) -> None:
    for user in users:
        services.queue_token_issue(user_id=user.pk)


def _stale(users) -> None:
    """Make the places of `users` look unpolled for an hour (the poll hash is the place's sign
    of life; the scripts compare it with Redis's clock)."""
    keys = room_keys(ROOM)
    client = queue_redis()
    for user in users:
        key = keys.poll(user.pk)
        joined = client.hget(key, user.pk).decode().split(":")[0]
        client.hset(key, user.pk, f"{int(joined) - 3_600_000}:{int(joined) - 3_600_000}")


def test_a_tick_writes_this_minutes_waiting_and_admitted(make_users, queue_settings):
    queue_settings(admit_per_tick=2, capacity=100)
    _issue(make_users(5))
    before = _redis_minute()
    first = _tick()
    second = _tick()
    after = _redis_minute()
    assert len(first.admitted) == len(second.admitted) == 2

    minutes = store.history(room=ROOM)
    assert len(minutes) == HISTORY_MINUTES
    assert [m.minute for m in minutes] == list(range(after - HISTORY_MINUTES + 1, after + 1))
    if before == after:
        assert (minutes[-1].waiting, minutes[-1].admitted) == (1, 4)
    else:  # the two ticks straddled a minute: each minute has its own tick
        assert (minutes[-2].waiting, minutes[-2].admitted) == (3, 2)
        assert (minutes[-1].waiting, minutes[-1].admitted) == (1, 2)
    # Minutes without a tick have no waiting figure, and nothing admitted.
    assert all(m.waiting is None and m.admitted == 0 for m in minutes[:-2])


def test_the_history_keeps_an_hour_and_trims_the_rest_when_a_minute_begins(make_users):
    """Minutes written by earlier ticks stand in for an hour gone by: the first tick of a new
    minute keeps the last HISTORY_MINUTES and drops everything older."""
    key = room_keys(ROOM).history
    now = _redis_minute()
    old, edge, kept = now - HISTORY_MINUTES - 5, now - HISTORY_MINUTES, now - HISTORY_MINUTES + 1
    queue_redis().hset(
        key,
        mapping={
            f"w{old}": 50,
            f"a{old}": 9,
            f"w{edge}": 40,
            f"a{edge}": 8,
            f"w{kept}": 30,
            f"a{kept}": 7,
            f"w{now - 1}": 20,
            f"a{now - 1}": 6,
        },
    )
    _issue(make_users(3))
    _tick()
    now_after = _redis_minute()
    fields = {k.decode(): int(v) for k, v in queue_redis().hgetall(key).items()}
    assert f"w{old}" not in fields and f"a{old}" not in fields
    assert f"w{edge}" not in fields and f"a{edge}" not in fields
    if now_after == now:
        assert fields[f"w{kept}"] == 30 and fields[f"a{kept}"] == 7
    assert fields[f"w{now - 1}"] == 20
    assert fields[f"w{now_after}"] == 0 and fields[f"a{now_after}"] == 3
    # The history goes with the room's ticks: an hour and a minute after the last one.
    assert 0 < queue_redis().pttl(key) <= (HISTORY_MINUTES + 1) * 60_000

    by_minute = {m.minute: m for m in store.history(room=ROOM)}
    assert old not in by_minute and edge not in by_minute
    assert by_minute[now - 1].waiting == 20 and by_minute[now - 1].admitted == 6


def test_a_later_tick_in_the_same_minute_overwrites_waiting_and_adds_admitted(make_users):
    key = room_keys(ROOM).history
    now = _redis_minute()
    queue_redis().hset(key, mapping={f"w{now}": 99, f"a{now}": 5})
    _issue(make_users(2))
    _tick()
    if _redis_minute() != now:
        pytest.skip("the tick ran in the next minute; the other tests cover that case")
    assert queue_redis().hget(key, f"w{now}") == b"0"
    assert queue_redis().hget(key, f"a{now}") == b"7"
    # No new minute began, so nothing was trimmed and no expiry set by this tick.
    assert queue_redis().pttl(key) == -1


def test_abandoned_places_are_counted_for_good(make_users, queue_settings):
    queue_settings(paused=True)
    users = make_users(5)
    _issue(users)
    assert store.figures(room=ROOM).abandoned_total == 0
    _stale(users[:2])
    assert _tick().abandoned == 2
    assert store.figures(room=ROOM).abandoned_total == 2
    # A place found lost when its owner polls again counts too.
    _stale(users[2:3])
    services.queue_token_issue(user_id=users[2].pk)
    assert store.figures(room=ROOM).abandoned_total == 3
    # The tick's own sweep finds no one else to drop; the count stays.
    assert _tick().abandoned == 0
    assert store.figures(room=ROOM).abandoned_total == 3


def test_passthrough_admissions_count_in_the_minute(make_users, queue_settings):
    queue_settings(mode="passthrough")
    users = make_users(3)
    now = _redis_minute()
    _issue(users)
    if _redis_minute() != now:
        pytest.skip("the admissions straddled a minute")
    assert queue_redis().hget(room_keys(ROOM).history, f"a{now}") == b"3"
