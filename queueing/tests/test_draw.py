"""The pre-queue and its draw: places taken before the start, ordered at the start by a seed
whose hash was published first; anyone can recompute the order from the published values."""

import hashlib
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from booking.tests.factories import ConcertFactory
from concertbooking.redis import queue_redis
from queueing import services, store, tokens
from queueing.keys import room_keys
from queueing.selectors import queue_token_status, room_of_concert

pytestmark = pytest.mark.django_db


def _recompute(seed: str, draw_ids: list[str]) -> list[str]:
    """The documented order: ascending by the first 13 hex digits of SHA-256(seed:draw_id)."""
    return sorted(draw_ids, key=lambda d: hashlib.sha256(f"{seed}:{d}".encode()).hexdigest()[:13])


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_draw_anyone_can_check(make_users):
    concert = ConcertFactory()
    starts = timezone.now() + timedelta(seconds=1.5)
    services.room_save(concert_id=concert.pk, sale_starts_at=starts, capacity=100)
    public = APIClient().get(f"/api/concerts/{concert.pk}/queue").json()
    assert (public["phase"], public["seed"]) == ("prequeue", None)
    promised = public["seed_sha256"]
    assert len(promised) == 64

    early = make_users(8, prefix="early")
    tickets = {}
    for user in early:
        body = _client(user).post("/api/queue/tokens", {"concert_id": concert.pk}, format="json")
        assert body.status_code == 201, body.content
        tickets[user.pk] = body.json()
        assert (body.json()["status"], body.json()["position"]) == ("scheduled", None)
        assert body.json()["draw_id"]
    # One leaves before the start: the draw is of those still there.
    leaver = early[3]
    services.queue_token_leave(token=tickets[leaver.pk]["token"], user_id=leaver.pk)
    # Nobody is admitted before the start, whatever the ticks.
    assert services.queue_promote_all() == 0

    time.sleep(max(0.0, (starts - timezone.now()).total_seconds()) + 0.05)
    late = make_users(2, prefix="late")
    late_tickets = [services.queue_token_issue(user_id=u.pk, concert_id=concert.pk) for u in late]
    config = room_of_concert(concert.pk)
    services.queue_promote_tick(config=replace(config, capacity=1))

    public = APIClient().get(f"/api/concerts/{concert.pk}/queue").json()
    seed = public["seed"]
    assert public["phase"] == "on_sale"
    assert hashlib.sha256(seed.encode()).hexdigest() == promised
    assert public["drawn"] == 7
    published = APIClient().get(f"/api/concerts/{concert.pk}/queue/draw?limit=100").json()
    stayed = [u for u in early if u != leaver]
    draw_ids = [tickets[u.pk]["draw_id"] for u in stayed]
    # The published draw is a permutation of exactly the pre-queued places, in the seed's order.
    assert sorted(published["draw_ids"]) == sorted(draw_ids)
    assert published["draw_ids"] == _recompute(seed, draw_ids)

    # Each buyer's place follows that order; the first was admitted, the late ones stand behind.
    order = {draw_id: rank for rank, draw_id in enumerate(published["draw_ids"], start=1)}
    for user in stayed:
        ticket = queue_token_status(token=tickets[user.pk]["token"], user_id=user.pk)
        rank = order[tickets[user.pk]["draw_id"]]
        assert (ticket.status, ticket.position) == (
            ("active", None) if rank == 1 else ("waiting", rank - 1)
        )
    assert [
        queue_token_status(token=t.token, user_id=u.pk).position
        for t, u in zip(late_tickets, late, strict=True)
    ] == [7, 8]


def test_a_new_on_sale_draws_with_a_new_seed():
    concert = ConcertFactory()
    first = timezone.now() - timedelta(minutes=1)
    services.room_save(concert_id=concert.pk, sale_starts_at=first)
    seed = room_of_concert(concert.pk).seed
    services.room_save(concert_id=concert.pk, sale_starts_at=first + timedelta(days=7))
    assert room_of_concert(concert.pk).seed != seed


# Chi-square critical value for 9 degrees of freedom at p = 0.001.
CHI2_9_DF_P001 = 27.877


def test_every_arrival_slot_lands_in_every_position_alike(make_users):
    """Over a fixed list of seeds, each of four pre-queue arrivals ends up in each of the four
    places about equally often: the draw through the real join script, a chi-square test of
    the counts (seeds fixed, so never flaky)."""
    users = make_users(4)
    room = "c1"
    runs = 400
    counts = [[0] * 4 for _ in range(4)]
    client = queue_redis()
    starts_ms = int((time.time() + 3600) * 1000)  # the pre-queue stays open for every run
    for run in range(runs):
        seed = hashlib.sha256(f"fixed-seed-{run}".encode()).hexdigest()
        for user in users:  # arrival slot = the order of joining
            draw_id = tokens.draw_id(room=room, user_id=user.pk)
            store.issue(
                room=room,
                user_id=user.pk,
                draw_key=tokens.draw_key(seed=seed, draw_id=draw_id),
                abandon_ms=60_000,
                starts_ms=starts_ms,
                mode="fifo",
                session_ms=60_000,
            )
        order = [int(uid) for uid in client.zrange(room_keys(room).waiting, 0, -1)]
        for slot, user in enumerate(users):
            counts[slot][order.index(user.pk)] += 1
        client.delete(room_keys(room).waiting)
    expected = runs / 4
    chi2 = sum((count - expected) ** 2 / expected for row in counts for count in row)
    assert chi2 < CHI2_9_DF_P001, counts


def test_control_arrival_order_fails_the_same_test():
    """The same statistic on first-come-first-served places: slot i is always place i."""
    counts = [[100 if slot == place else 0 for place in range(4)] for slot in range(4)]
    chi2 = sum((c - 25) ** 2 / 25 for row in counts for c in row)
    assert chi2 > CHI2_9_DF_P001


def test_the_gate_shows_no_place_before_the_start(user):
    concert = ConcertFactory()
    services.room_save(concert_id=concert.pk, sale_starts_at=timezone.now() + timedelta(minutes=5))
    ticket = services.queue_token_issue(user_id=user.pk, concert_id=concert.pk)
    response = _client(user).get(
        f"/api/concerts/{concert.pk}/available-dates", HTTP_QUEUE_TOKEN=ticket.token
    )
    assert response.status_code == 403
    assert response.json() == {
        "code": "queue_not_admitted",
        "detail": "You are still waiting in the queue.",
        "position": None,
    }


def test_a_drawn_sale_moved_to_another_past_time_keeps_its_seed():
    concert = ConcertFactory()
    first = timezone.now() - timedelta(minutes=5)
    services.room_save(concert_id=concert.pk, sale_starts_at=first)
    seed = room_of_concert(concert.pk).seed
    services.room_save(concert_id=concert.pk, sale_starts_at=first - timedelta(minutes=1))
    assert room_of_concert(concert.pk).seed == seed  # the published seed stays the draw's


def test_a_drawn_place_keeps_its_draw_id_after_the_start(user):
    concert = ConcertFactory()
    starts = timezone.now() + timedelta(seconds=0.5)
    services.room_save(concert_id=concert.pk, sale_starts_at=starts)
    ticket = services.queue_token_issue(user_id=user.pk, concert_id=concert.pk)
    time.sleep(max(0.0, (starts - timezone.now()).total_seconds()) + 0.05)
    after = queue_token_status(token=ticket.token, user_id=user.pk)
    assert (after.status, after.position, after.draw_id) == ("waiting", 1, ticket.draw_id)


def test_a_new_on_sale_puts_everyone_still_waiting_into_its_draw(
    make_users, django_capture_on_commit_callbacks
):
    """After a drawn sale, a new start: the places left over (drawn or first come) take part in
    the new draw, which the new seed alone orders; joining again gives each their new token."""
    concert = ConcertFactory()
    users = make_users(6)
    first = timezone.now() + timedelta(seconds=0.5)
    services.room_save(concert_id=concert.pk, sale_starts_at=first)
    for user in users[:3]:
        services.queue_token_issue(user_id=user.pk, concert_id=concert.pk)
    time.sleep(max(0.0, (first - timezone.now()).total_seconds()) + 0.05)
    for user in users[3:]:
        services.queue_token_issue(user_id=user.pk, concert_id=concert.pk)  # first come
    old_seed = room_of_concert(concert.pk).seed

    second = timezone.now() + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.room_save(concert_id=concert.pk, sale_starts_at=second)
    seed = room_of_concert(concert.pk).seed
    assert seed != old_seed
    tickets = {u.pk: services.queue_token_issue(user_id=u.pk, concert_id=concert.pk) for u in users}
    assert {t.status for t in tickets.values()} == {"scheduled"}
    assert not any(t.created for t in tickets.values())

    time.sleep(max(0.0, (second - timezone.now()).total_seconds()) + 0.05)
    config = room_of_concert(concert.pk)
    services.queue_promote_tick(config=replace(config, capacity=1, admit_per_tick=1))
    published = APIClient().get(f"/api/concerts/{concert.pk}/queue/draw").json()["draw_ids"]
    draw_ids = [t.draw_id for t in tickets.values()]
    assert published == _recompute(seed, draw_ids)
