"""Real concurrency over real Redis: fair order under a rush, and no over-admission ever."""

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from concertbooking.redis import queue_redis
from queueing import services
from queueing.keys import room_keys

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def _in_threads(count: int, work) -> list:
    """Run work(index) in `count` threads released together; each closes its DB connection."""
    barrier = threading.Barrier(count)

    def run(index: int):
        try:
            barrier.wait()
            return work(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _waiting(make_users, count: int) -> list[int]:
    """`count` users in the queue, in arrival order."""
    users = make_users(count)
    for user in users:
        services.queue_token_issue(user_id=user.pk)
    return [u.pk for u in users]


def test_a_thousand_at_once_get_distinct_places_and_are_admitted_in_that_order(
    make_users, queue_settings
):
    users = make_users(1000)
    threads = 40

    def rush(index: int) -> list[tuple[int, int, dict]]:
        client = APIClient()
        results = []
        for user in users[index::threads]:
            client.force_authenticate(user)
            response = client.post("/api/queue/tokens")
            results.append((user.pk, response.status_code, response.json()))
        return results

    results = [row for batch in _in_threads(threads, rush) for row in batch]
    assert len(results) == 1000
    assert {status for _, status, _ in results} == {201}
    assert sorted(body["position"] for _, _, body in results) == list(range(1, 1001))
    assert len({body["token"] for _, _, body in results}) == 1000
    by_position = [pk for pk, _, body in sorted(results, key=lambda r: r[2]["position"])]

    # Admission follows the positions exactly, across many ticks of an odd size.
    queue_settings(capacity=1000, admit_per_tick=37)
    admitted = []
    while tick := services.queue_promote_tick().admitted:
        admitted += tick
    assert admitted == by_position


def test_one_user_asking_many_times_at_once_holds_one_place(make_users):
    (user,) = make_users(1)

    def ask(_):
        return services.queue_token_issue(user_id=user.pk)

    tickets = _in_threads(20, ask)
    assert len({t.token for t in tickets}) == 1
    assert sum(t.created for t in tickets) == 1
    assert queue_redis().zcard(room_keys("main").waiting) == 1


def _naive_promote(capacity: int, per_tick: int) -> int:
    """Check-then-act in Python, without the script: the race the Lua script exists to stop."""
    client, keys = queue_redis(), room_keys("main")
    free = capacity - client.zcard(keys.active)
    if free <= 0:
        return 0
    time.sleep(0.005)  # the gap between reading and writing that real traffic opens
    popped = client.zpopmin(keys.waiting, min(free, per_tick))
    if popped:
        client.zadd(keys.active, {member: 0 for member, _ in popped})
    return len(popped)


def test_control_naive_promotion_over_admits(make_users):
    _waiting(make_users, 300)
    admitted = _in_threads(16, lambda _: sum(_naive_promote(100, 7) for _ in range(5)))
    assert sum(admitted) > 100
    assert queue_redis().zcard(room_keys("main").active) > 100


def test_concurrent_promotion_threads_never_exceed_capacity(make_users, queue_settings):
    order = _waiting(make_users, 300)
    queue_settings(capacity=100, admit_per_tick=7)

    def promote(_):
        return [services.queue_promote_tick().admitted for _ in range(10)]

    ticks = [tick for runs in _in_threads(16, promote) for tick in runs]
    assert sum(len(t) for t in ticks) == 100
    assert queue_redis().zcard(room_keys("main").active) == 100
    # Every tick took a contiguous run from the head: together exactly the first hundred.
    assert sorted(pk for t in ticks for pk in t) == sorted(order[:100])
    assert all(t == sorted(t, key=order.index) for t in ticks)


PROMOTER = """
import json, sys
import django
django.setup()
from concertbooking.redis import queue_redis
from queueing import store
from queueing.selectors import site_room
from queueing.services import queue_promote
# Connect, read the settings and load the script first, then wait at the start line.
site_room()
queue_redis().script_load(store.script("promote").script)
print("ready", flush=True)
sys.stdin.readline()
admitted = sum(queue_promote() for _ in range(int(sys.argv[1])))
print(json.dumps({"admitted": admitted}), flush=True)
"""
CALLS_PER_PROCESS = 150


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_concurrent_promotion_processes_never_exceed_capacity(make_users, queue_settings):
    order = _waiting(make_users, 600)
    # One admission per call and 150 calls each: no process can fill the 400 slots alone, so
    # at least three of them must really race for the head.
    queue_settings(capacity=400, admit_per_tick=1)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "concertbooking.settings",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "QUEUE_REDIS_URL": settings.QUEUE_REDIS_URL,
        "LOG_LEVEL": "WARNING",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROMOTER, str(CALLS_PER_PROCESS)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for process in processes:  # everyone at the start line ...
            assert process.stdout.readline().strip() == "ready"
        for process in processes:  # ... then go, within microseconds of each other
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [json.loads(p.communicate(timeout=120)[0]) for p in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert all(p.returncode == 0 for p in processes)
    assert sum(o["admitted"] for o in outputs) == 400
    assert sum(o["admitted"] > 0 for o in outputs) >= 3
    active = {int(m) for m in queue_redis().zrange(room_keys("main").active, 0, -1)}
    assert active == set(order[:400])


def test_a_thousand_joins_across_three_rooms_racing_ticks(make_users):
    """1,000 joins at once into three rooms (each user into two of them) while promotion ticks
    race: one place per user per room, each room's admissions in its own arrival order, and
    never more active in a room than its capacity."""
    from booking.tests.factories import ConcertFactory
    from queueing.selectors import room_of_concert

    users = make_users(500)
    concerts = [ConcertFactory() for _ in range(3)]
    capacities = [40, 70, 100]
    for concert, capacity in zip(concerts, capacities, strict=True):
        services.room_save(concert_id=concert.pk, capacity=capacity, admit_per_tick=9)
    # User i joins rooms i % 3 and (i + 1) % 3: 1,000 joins, two rooms per user.
    joins = [(u, concerts[(i + k) % 3]) for i, u in enumerate(users) for k in (0, 1)]
    threads = 40
    done = threading.Event()
    over_capacity = []

    def join(index: int):
        return [
            (
                user.pk,
                concert.pk,
                services.queue_token_issue(user_id=user.pk, concert_id=concert.pk),
            )
            for user, concert in joins[index::threads]
        ]

    def tick():
        while not done.is_set():
            for concert, capacity in zip(concerts, capacities, strict=True):
                services.queue_promote(config=room_of_concert(concert.pk))
                active = queue_redis().zcard(room_keys(f"c{concert.pk}").active)
                if active > capacity:
                    over_capacity.append((concert.pk, active))
        connection.close()

    tickers = [threading.Thread(target=tick) for _ in range(4)]
    for ticker in tickers:
        ticker.start()
    try:
        results = [row for batch in _in_threads(threads, join) for row in batch]
    finally:
        done.set()
        for ticker in tickers:
            ticker.join()
    assert len(results) == 1000
    assert over_capacity == []
    for concert, capacity in zip(concerts, capacities, strict=True):
        keys = room_keys(f"c{concert.pk}")
        mine = [(pk, ticket) for pk, cid, ticket in results if cid == concert.pk]
        assert len({pk for pk, _ in mine}) == len(mine)  # one place per user
        assert all(t.created for _, t in mine)
        placed = queue_redis().zcard(keys.waiting) + queue_redis().zcard(keys.active)
        assert placed == len(mine)
        assert queue_redis().zcard(keys.active) == capacity
        # First come, first served: everyone admitted joined before everyone still waiting.
        stamps = {pk: int(t.token.split(".")[1]) for pk, t in mine}
        active = [int(m) for m in queue_redis().zrange(keys.active, 0, -1)]
        waiting = [int(m) for m in queue_redis().zrange(keys.waiting, 0, -1)]
        assert max(stamps[pk] for pk in active) < min(stamps[pk] for pk in waiting)
        assert waiting == sorted(waiting, key=stamps.get)


def _naive_issue(user_id: int) -> int | None:
    """Check-then-act in Python, without the script: a new arrival number if the user seems to
    have no place."""
    client, keys = queue_redis(), room_keys("main")
    if client.zscore(keys.waiting, user_id) is not None:
        return None
    time.sleep(0.005)
    stamp = 2**52 + client.incr(keys.arrivals)
    client.zadd(keys.waiting, {user_id: stamp})
    return stamp


def test_control_naive_join_hands_one_user_several_places(make_users):
    """The race the issue script exists to stop: several "new" places for one user, each with
    its own token, of which only the last still counts."""
    (user,) = make_users(1)
    stamps = [s for s in _in_threads(20, lambda _: _naive_issue(user.pk)) if s is not None]
    assert len(stamps) > 1
