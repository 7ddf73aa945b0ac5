"""The queue on a real Redis Cluster of three masters: every script runs on it, and a killed
master takes only its own rooms away (503) while the rooms on the other masters keep admitting."""

from __future__ import annotations

import time

import pytest
import redis
from redis.cluster import key_slot
from rest_framework.test import APIClient

from booking.services import rooms_free_seats_count
from booking.tests.factories import ConcertFactory
from concertbooking.redis import queue_redis
from queueing import services, store
from queueing.keys import room_keys
from queueing.selectors import queue_token_status, room_of_concert
from queueing.tests import redis_servers

pytestmark = pytest.mark.django_db

PORTS = (7101, 7102, 7103)
# A call for a dead master's room must fail fast, not hang on retries: a connection refused
# costs milliseconds and a silent node one socket timeout (1 s), so this only catches a hang.
DEAD_ROOM_BOUND_SECONDS = 3.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with redis_servers.Cluster(tmp_path_factory.mktemp("redis-cluster"), PORTS) as cluster:
        yield cluster


@pytest.fixture
def on_cluster(cluster, queue_redis_at):
    """The queue's client points at the cluster, empty, for this test."""
    cluster.flush()
    queue_redis_at(cluster.url)
    assert isinstance(queue_redis(), redis.cluster.RedisCluster)
    return cluster


def _master_of(room: str) -> int:
    """The port of the master that holds `room`'s slot."""
    slot = key_slot(room_keys(room).waiting.encode())
    return queue_redis().nodes_manager.get_node_from_slot(slot).port


def _a_room_per_master(**settings) -> dict[int, int]:
    """{master port: concert id} with one concert room on each master."""
    by_master: dict[int, int] = {}
    while len(by_master) < len(PORTS):
        concert_id = ConcertFactory().pk
        by_master.setdefault(_master_of(f"c{concert_id}"), concert_id)
    for concert_id in by_master.values():
        services.room_save(concert_id=concert_id, **settings)
    return by_master


def _client(user, token: str | None = None) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    if token:
        client.credentials(HTTP_QUEUE_TOKEN=token)
    return client


def _join(user, concert_id: int):
    return _client(user).post("/api/queue/tokens", {"concert_id": concert_id}, format="json")


def _admitted(concert_id: int) -> int:
    return store.figures(room=f"c{concert_id}").admitted_total


def test_every_script_runs_on_the_cluster(on_cluster, make_users):
    rooms = _a_room_per_master()
    users = make_users(4)
    for concert_id in rooms.values():
        room = f"c{concert_id}"
        tickets = [
            services.queue_token_issue(user_id=u.pk, concert_id=concert_id) for u in users[:3]
        ]
        assert [t.position for t in tickets] == [1, 2, 3]  # issue
        assert queue_token_status(token=tickets[1].token, user_id=users[1].pk).position == 2
        store.free_seats_set(room=room, free=7, ttl_seconds=60)
        result = services.queue_promote_tick(config=room_of_concert(concert_id))  # promote
        assert result.admitted == [u.pk for u in users[:3]]
        gated = _client(users[0], tickets[0].token).get(
            f"/api/concerts/{concert_id}/available-dates"
        )
        assert gated.status_code == 200, gated.content  # gate
        services.queue_slot_keep(user_id=users[0].pk, room=room, held_until=None)  # keep
        services.queue_release_user(user_id=users[1].pk, room=room)  # release
        services.queue_token_leave(token=tickets[2].token, user_id=users[2].pk)
        services.queue_token_issue(user_id=users[3].pk, concert_id=concert_id)
        assert store.waiting_rekey(room=room, key_of=lambda uid: uid) == 1
        assert store.draw_page(room=room, start=0, stop=-1) == []
        figures = store.figures(room=room)  # stats
        assert (figures.waiting, figures.active, figures.admitted_total) == (1, 1, 3)
        assert figures.free_seats == 7
    # Every room's keys sit on its own master, in one slot.
    for port, concert_id in rooms.items():
        keys = on_cluster.node(port).keys("cbq:*")
        assert keys and {key_slot(k) for k in keys} == {
            key_slot(room_keys(f"c{concert_id}").waiting.encode())
        }


def test_a_node_that_forgot_the_scripts_learns_them_again(on_cluster, user):
    rooms = _a_room_per_master()
    for concert_id in rooms.values():
        assert _join(user, concert_id).status_code == 201
    for port in PORTS:
        on_cluster.node(port).script_flush()  # as after a restart or a failover
    for concert_id in rooms.values():
        assert _join(user, concert_id).status_code == 200


@pytest.fixture
def revived(on_cluster):
    """Masters this test kills are started again afterwards, with their slots (and no data)."""
    yield on_cluster
    for port in PORTS:
        if port not in on_cluster.processes:
            on_cluster.start(port)
    on_cluster.wait_ok()


def test_a_dead_master_takes_only_its_own_rooms_away(revived, make_users):
    on_cluster = revived
    rooms = _a_room_per_master(admit_per_tick=1, capacity=100)
    users = make_users(6)
    tokens: dict[int, list[str]] = {}
    for concert_id in rooms.values():
        joined = [_join(u, concert_id) for u in users[:4]]
        assert [r.status_code for r in joined] == [201] * 4
        tokens[concert_id] = [r.json()["token"] for r in joined]
    assert services.queue_promote_all() == 3  # one per room

    dead_port = next(iter(rooms))
    dead = rooms.pop(dead_port)
    # The live masters must reload the scripts while the dead one cannot take a SCRIPT LOAD.
    for port in PORTS:
        on_cluster.node(port).script_flush()
    on_cluster.kill(dead_port)

    calls = [
        lambda: _join(users[4], dead),
        lambda: _client(users[1], tokens[dead][1]).get("/api/queue/tokens/current"),
        lambda: _client(users[0], tokens[dead][0]).get(f"/api/concerts/{dead}/available-dates"),
    ]
    for call in calls:
        started = time.monotonic()
        response = call()
        assert response.status_code == 503, response.content
        assert response.json()["code"] == "queue_unavailable"
        assert int(response["Retry-After"]) > 0
        assert time.monotonic() - started < DEAD_ROOM_BOUND_SECONDS

    before = {concert_id: _admitted(concert_id) for concert_id in rooms.values()}
    assert before == dict.fromkeys(rooms.values(), 1)
    started = time.monotonic()
    assert services.queue_promote_all() == 2  # the dead room counts nothing, the others admit
    assert services.queue_promote_all() == 2
    assert time.monotonic() - started < 2 * DEAD_ROOM_BOUND_SECONDS
    assert {concert_id: _admitted(concert_id) for concert_id in rooms.values()} == dict.fromkeys(
        rooms.values(), 3
    )

    for concert_id in rooms.values():
        assert _join(users[4], concert_id).status_code == 201
        status = _client(users[3], tokens[concert_id][3]).get("/api/queue/tokens/current")
        assert (status.status_code, status.json()["status"]) == (200, "waiting")
        for i in range(3):  # admitted on the first tick and the two after the kill
            client = _client(users[i], tokens[concert_id][i])
            gated = client.get(f"/api/concerts/{concert_id}/available-dates")
            assert gated.status_code == 200, gated.content

    # Booking's count of free seats (none: the concerts have no dates) reaches the live rooms.
    assert rooms_free_seats_count() == 2
    assert [store.figures(room=f"c{c}").free_seats for c in rooms.values()] == [0, 0]


def test_a_master_that_never_answers_holds_its_rooms_one_timeout_only(revived, make_users):
    """A hung master costs a call for its rooms one socket timeout, not one per retry, and the
    tick goes on to the other rooms after it (test_hung_node.py: the calls after it)."""
    rooms = _a_room_per_master(admit_per_tick=1)
    users = make_users(3)
    for concert_id in rooms.values():
        assert [_join(u, concert_id).status_code for u in users] == [201] * 3
    hung_port = next(iter(rooms))
    hung = rooms.pop(hung_port)
    revived.pause(hung_port)
    try:
        started = time.monotonic()
        refused = _join(users[0], hung)
        assert (refused.status_code, refused.json()["code"]) == (503, "queue_unavailable")
        assert time.monotonic() - started < DEAD_ROOM_BOUND_SECONDS
        started = time.monotonic()
        assert services.queue_promote_all() == 2
        assert time.monotonic() - started < DEAD_ROOM_BOUND_SECONDS
        assert [_admitted(concert_id) for concert_id in rooms.values()] == [1, 1]
    finally:
        revived.pause(hung_port, paused=False)


def test_a_cluster_that_requires_full_coverage_stops_every_room(revived, user):
    """The control for `cluster-require-full-coverage no`: with it on, the live masters refuse
    every room once one master has failed (CLUSTERDOWN), and that too is a 503, not a 500."""
    rooms = _a_room_per_master()
    for concert_id in rooms.values():
        assert _join(user, concert_id).status_code == 201
    dead_port = next(iter(rooms))
    live = [port for port in PORTS if port != dead_port]
    for port in live:
        revived.node(port).config_set("cluster-require-full-coverage", "yes")
    try:
        revived.kill(dead_port)
        redis_servers.wait_until(
            lambda: all(revived.node(p).cluster("info")["cluster_state"] == "fail" for p in live),
            "the live masters to declare the cluster down",
        )
        for concert_id in rooms.values():
            refused = _join(user, concert_id)
            assert (refused.status_code, refused.json()["code"]) == (503, "queue_unavailable")
        assert services.queue_promote_all() == 0
    finally:
        for port in live:
            revived.node(port).config_set("cluster-require-full-coverage", "no")


def test_a_cluster_with_no_node_answering_is_unavailable(auth_client, queue_redis_at):
    queue_redis_at("redis+cluster://127.0.0.1:1,127.0.0.1:2")
    refused = auth_client.post("/api/queue/tokens")
    assert (refused.status_code, refused.json()["code"]) == (503, "queue_unavailable")
    assert int(refused["Retry-After"]) > 0
