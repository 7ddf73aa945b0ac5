"""A queue Redis node that hangs (alive, never answering) is held down after one socket timeout:
calls for its rooms are refused at once instead of each waiting a timeout, so the promotion tick
and booking's count of free seats still reach the other masters' rooms in time, and the rooms
come back on their own once the node answers again."""

from __future__ import annotations

import threading
import time

import pytest
from redis.cluster import key_slot
from rest_framework.test import APIClient

from booking.services import rooms_free_seats_count
from booking.tests.factories import ConcertFactory
from concertbooking.redis import queue_redis
from queueing import services, store
from queueing.errors import QueueUnavailable
from queueing.keys import room_keys
from queueing.tests import redis_servers
from queueing.tests.conftest import TcpProxy

pytestmark = pytest.mark.django_db

PORTS = (7201, 7202, 7203)  # not test_cluster.py's nor the cluster benchmark's
HUNG_PORT = PORTS[0]
HUNG_ROOMS = 5
TIMEOUT = 1.0  # the queue client's socket timeout (concertbooking.redis.make_client)
# Every bound below tells "waited one socket timeout" from "waited one per room" (5 s) or
# "waited none"; the host is shared, so they leave room for scheduling noise.
ONE_TIMEOUT_BOUND = 2.5 * TIMEOUT
NO_TIMEOUT_BOUND = 0.6 * TIMEOUT


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with redis_servers.Cluster(tmp_path_factory.mktemp("redis-cluster-hung"), PORTS) as cluster:
        yield cluster


@pytest.fixture
def rooms(cluster, queue_redis_at, settings) -> dict[int, list[int]]:
    """{master port: concert ids}: HUNG_ROOMS rooms on HUNG_PORT and one on each other master,
    each admitting one a tick with ten waiting; the hold is the default."""
    settings.QUEUE_NODE_HOLD_SECONDS = 5.0
    cluster.flush()
    queue_redis_at(cluster.url)
    wanted = {port: (HUNG_ROOMS if port == HUNG_PORT else 1) for port in PORTS}
    by_master: dict[int, list[int]] = {port: [] for port in PORTS}
    while any(len(by_master[port]) < count for port, count in wanted.items()):
        concert_id = ConcertFactory().pk
        slot = key_slot(room_keys(f"c{concert_id}").waiting.encode())
        port = queue_redis().nodes_manager.get_node_from_slot(slot).port
        if len(by_master[port]) < wanted[port]:
            by_master[port].append(concert_id)
    for concert_ids in by_master.values():
        for concert_id in concert_ids:
            services.room_save(concert_id=concert_id, admit_per_tick=1, capacity=100)
            for user_id in range(10_001, 10_011):
                services.queue_token_issue(user_id=user_id, concert_id=concert_id)
    return by_master


@pytest.fixture
def hung(cluster):
    """Pauses HUNG_PORT's master (SIGSTOP) and lets it go on afterwards, whatever happened."""
    cluster.pause(HUNG_PORT)
    try:
        yield cluster
    finally:
        cluster.pause(HUNG_PORT, paused=False)
        cluster.wait_ok()


def _live(rooms) -> list[int]:
    return [c for port, concert_ids in rooms.items() if port != HUNG_PORT for c in concert_ids]


def _admitted(concert_id: int) -> int:
    return store.figures(room=f"c{concert_id}").admitted_total


def _sent_for(round_trips: list, concert_ids: list[int]) -> int:
    """How many of the commands written to a socket name one of these rooms' keys."""
    tags = [f"{{c{c}}}".encode() for c in concert_ids]
    packed = [b"".join(c) if isinstance(c, list | tuple) else c for c in round_trips]
    return sum(1 for command in packed if any(tag in command for tag in tags))


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_a_tick_waits_one_timeout_for_a_hung_master_then_none(rooms, hung, redis_round_trips):
    live = _live(rooms)
    for tick in range(1, 4):
        redis_round_trips.clear()
        admitted, took = _timed(services.queue_promote_all)
        assert admitted == len(live)  # one in each live room; the hung rooms are skipped
        assert took < (ONE_TIMEOUT_BOUND if tick == 1 else NO_TIMEOUT_BOUND)
        # The first tick writes to the hung master once; the held ones not at all.
        assert _sent_for(redis_round_trips, rooms[HUNG_PORT]) == (1 if tick == 1 else 0)
        assert [_admitted(c) for c in live] == [tick] * len(live)
    told, took = _timed(rooms_free_seats_count)
    assert (told, took < NO_TIMEOUT_BOUND) == (len(live), True)


def test_without_the_hold_every_hung_room_waits_its_own_timeout(rooms, hung, settings):
    """The control: with no hold, a tick waits one socket timeout per room on the hung master."""
    settings.QUEUE_NODE_HOLD_SECONDS = 0
    admitted, took = _timed(services.queue_promote_all)
    assert admitted == len(_live(rooms))
    assert took > 0.9 * TIMEOUT * HUNG_ROOMS
    told, took = _timed(rooms_free_seats_count)
    assert (told, took > 0.9 * TIMEOUT * HUNG_ROOMS) == (len(_live(rooms)), True)


def test_free_seats_are_counted_past_a_hung_master(rooms, hung):
    for first in (True, False):
        told, took = _timed(rooms_free_seats_count)
        assert told == len(_live(rooms))
        assert took < (ONE_TIMEOUT_BOUND if first else NO_TIMEOUT_BOUND)
    assert [store.figures(room=f"c{c}").free_seats for c in _live(rooms)] == [0, 0]


def test_calls_for_a_hung_masters_rooms_are_refused_at_once_after_the_first(
    rooms, hung, make_users
):
    users = make_users(2)
    client = APIClient()
    client.force_authenticate(users[0])

    def join(concert_id: int):
        return client.post("/api/queue/tokens", {"concert_id": concert_id}, format="json")

    for i, concert_id in enumerate(rooms[HUNG_PORT] * 2):
        refused, took = _timed(lambda: join(concert_id))  # noqa: B023
        assert (refused.status_code, refused.json()["code"]) == (503, "queue_unavailable")
        assert int(refused["Retry-After"]) > 0
        assert took < (ONE_TIMEOUT_BOUND if i == 0 else NO_TIMEOUT_BOUND)
    for concert_id in _live(rooms):
        assert join(concert_id).status_code == 201


def test_the_rooms_answer_again_once_the_hold_is_over(rooms, hung, settings):
    settings.QUEUE_NODE_HOLD_SECONDS = 2.0
    assert services.queue_promote_all() == len(_live(rooms))  # the master is held from here
    hung.pause(HUNG_PORT, paused=False)
    admitted, took = _timed(services.queue_promote_all)
    assert (admitted, took < NO_TIMEOUT_BOUND) == (len(_live(rooms)), True)  # still held
    time.sleep(settings.QUEUE_NODE_HOLD_SECONDS)
    # The hold is over: the tick's first call for the master tries it, and every room admits.
    admitted, took = _timed(services.queue_promote_all)
    assert (admitted, took < ONE_TIMEOUT_BOUND) == (len(_live(rooms)) + HUNG_ROOMS, True)
    assert rooms_free_seats_count() == len(_live(rooms)) + HUNG_ROOMS


def test_after_the_hold_one_call_tries_the_node_while_the_others_are_refused(rooms, hung, settings):
    settings.QUEUE_NODE_HOLD_SECONDS = 1.0
    hung_rooms = rooms[HUNG_PORT]

    def status(concert_id: int) -> tuple[str, float]:
        started = time.monotonic()
        try:
            store.status(room=f"c{concert_id}", user_id=1, stamp=1, abandon_ms=60_000)
        except QueueUnavailable:
            return "refused", time.monotonic() - started
        return "answered", time.monotonic() - started

    assert status(hung_rooms[0])[0] == "refused"  # its timeout starts the hold
    time.sleep(settings.QUEUE_NODE_HOLD_SECONDS)
    callers = 8
    start = threading.Barrier(callers)
    results: list[tuple[str, float]] = []

    def call(concert_id: int) -> None:
        start.wait()
        results.append(status(concert_id))

    threads = [threading.Thread(target=call, args=(c,)) for c in (hung_rooms * 2)[:callers]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [verdict for verdict, _ in results] == ["refused"] * callers
    # One caller tried the node and waited its timeout; the others were refused meanwhile.
    waited = [took for _, took in results if took > NO_TIMEOUT_BOUND]
    assert len(waited) == 1 and waited[0] < ONE_TIMEOUT_BOUND


def test_a_hung_single_redis_is_held_too(auth_client, queue_redis_at, settings):
    """One plain Redis is one node: after one timeout every call is refused at once, and the
    first call after the hold finds it again."""
    settings.QUEUE_NODE_HOLD_SECONDS = 1.0
    kwargs = queue_redis().connection_pool.connection_kwargs
    proxy = TcpProxy((kwargs["host"], kwargs["port"]))
    proxy.start()
    try:
        queue_redis_at(f"redis://127.0.0.1:{proxy.port}/{kwargs['db']}")
        token = auth_client.post("/api/queue/tokens").json()["token"]
        proxy.pause()
        for i in range(4):
            refused, took = _timed(
                lambda: auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token)
            )
            assert (refused.status_code, refused.json()["code"]) == (503, "queue_unavailable")
            assert took < (ONE_TIMEOUT_BOUND if i == 0 else NO_TIMEOUT_BOUND)
        proxy.pause(paused=False)
        time.sleep(settings.QUEUE_NODE_HOLD_SECONDS)
        polled = auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token)
        assert polled.status_code == 200, polled.content
    finally:
        proxy.pause(paused=False)
        proxy.cut()
