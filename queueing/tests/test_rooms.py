"""Rooms per concert over real Redis and PostgreSQL: which token admits where, joining with bad
input, the modes, per-room settings, and a room that knows when its seats run out."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from booking.models import Reservation, ReservationStatus
from booking.services import reservation_hold, rooms_free_seats_count
from booking.tests.factories import ConcertFactory, schedule_with_seats
from concertbooking.redis import queue_redis
from payments.tests.conftest import fund
from queueing import services
from queueing.keys import room_keys
from queueing.selectors import queue_token_status, room_of_concert
from queueing.testing import admit, page_client

pytestmark = pytest.mark.django_db


def _client(user, token: str | None = None) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    if token:
        client.credentials(HTTP_QUEUE_TOKEN=token)
    return client


def _redis_keys() -> list[bytes]:
    return queue_redis().keys("cbq:*")


@pytest.fixture
def two_rooms():
    """Two concerts with rooms of their own, and a third that the site-wide room guards."""
    a, b = schedule_with_seats(3), schedule_with_seats(3)
    plain = schedule_with_seats(3)
    services.room_save(concert_id=a.concert_id)
    services.room_save(concert_id=b.concert_id)
    return a, b, plain


def test_a_token_admits_to_its_own_concert_only(user, two_rooms):
    a, b, plain = two_rooms
    token_a = admit(user, a.concert_id)
    assert token_a.startswith(f"c{a.concert_id}.")
    client = _client(user, token_a)
    assert client.get(f"/api/concerts/{a.concert_id}/available-dates").status_code == 200
    for concert_id in (b.concert_id, plain.concert_id):
        refused = client.get(f"/api/concerts/{concert_id}/available-dates")
        assert (refused.status_code, refused.json()["code"]) == (403, "queue_token_wrong_room")

    # A hold and a payment name no concert in the URL: the seat's concert decides.
    seat_b = b.seats.first()
    refused = client.post("/api/reservation/concerts", {"seat_id": seat_b.pk}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "queue_token_wrong_room")
    assert not Reservation.objects.exists()

    held = client.post("/api/reservation/concerts", {"seat_id": a.seats.first().pk}, format="json")
    assert held.status_code == 201, held.content
    fund(user, 1_000_000)
    other_b = reservation_hold(user=user, seat_id=seat_b.pk)
    refused = client.post(
        "/api/reservation/payments", {"reservation_id": other_b["reservation_id"]}, format="json"
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "queue_token_wrong_room")
    assert Reservation.objects.get(pk=other_b["reservation_id"]).status == ReservationStatus.HELD


def test_the_site_wide_token_admits_only_where_no_room_of_its_own_is(user, two_rooms):
    a, _, plain = two_rooms
    client = _client(user, admit(user))
    assert client.get(f"/api/concerts/{plain.concert_id}/available-dates").status_code == 200
    refused = client.get(f"/api/concerts/{a.concert_id}/available-dates")
    assert refused.json()["code"] == "queue_token_wrong_room"


def test_a_token_of_another_room_is_refused_on_pages_too(user, two_rooms):
    a, b, _ = two_rooms
    client = page_client(user, concert_id=a.concert_id)
    assert client.get(f"/book/concerts/{a.concert_id}/dates").status_code == 200
    assert client.get(f"/book/schedules/{a.pk}/seats").status_code == 200
    # The seat map of B names no concert in its URL; the page sends the buyer to B's queue.
    response = client.get(f"/book/schedules/{b.pk}/seats")
    assert response.status_code == 302
    assert f"concert={b.concert_id}" in response["Location"]
    response = client.get(f"/book/concerts/{b.concert_id}/dates")
    assert response.status_code == 302 and "/queue/" in response["Location"]


def test_a_user_waits_in_several_rooms_with_one_place_in_each(make_users, two_rooms):
    a, b, plain = two_rooms
    (user,) = make_users(1)
    places = {
        room: services.queue_token_issue(user_id=user.pk, concert_id=concert_id)
        for room, concert_id in [("a", a.concert_id), ("b", b.concert_id), ("site", None)]
    }
    assert len({ticket.token for ticket in places.values()}) == 3
    again = services.queue_token_issue(user_id=user.pk, concert_id=a.concert_id)
    assert (again.token, again.created) == (places["a"].token, False)
    # A concert without a room of its own queues in the site-wide room.
    site = services.queue_token_issue(user_id=user.pk, concert_id=plain.concert_id)
    assert (site.token, site.concert_id) == (places["site"].token, None)
    assert queue_redis().zcard(room_keys(f"c{a.concert_id}").waiting) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"concert_id": "1"}, 400, "invalid"),
        ({"concert_id": 1.5}, 400, "invalid"),
        ({"concert_id": True}, 400, "invalid"),
        ({"concert_id": 0}, 400, "invalid"),
        ({"concert_id": 2**63}, 400, "invalid"),
        ({"concert_id": None}, 400, "invalid"),
        ({"concert": 1}, 400, "invalid"),
        ({"concert_id": 999_999}, 404, "concert_not_found"),
    ],
)
def test_joining_with_bad_input_answers_clearly_and_stores_nothing(user, body, status, code):
    response = _client(user).post("/api/queue/tokens", body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    assert _redis_keys() == []


def test_joining_before_the_pre_queue_opens(user, settings):
    concert = ConcertFactory()
    starts = timezone.now() + timedelta(minutes=settings.PREQUEUE_MINUTES + 5)
    services.room_save(concert_id=concert.pk, sale_starts_at=starts)
    response = _client(user).post("/api/queue/tokens", {"concert_id": concert.pk}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "sale_not_open")
    opens = starts - timedelta(minutes=settings.PREQUEUE_MINUTES)
    assert response.json()["opens_at"] == opens.isoformat().replace("+00:00", "Z")
    assert _redis_keys() == []


def test_a_closed_room_refuses_joins_but_keeps_its_places(make_users):
    concert = ConcertFactory()
    inside, late = make_users(2)
    services.room_save(concert_id=concert.pk)
    kept = services.queue_token_issue(user_id=inside.pk, concert_id=concert.pk)
    services.room_save(concert_id=concert.pk, mode="closed")
    response = _client(late).post("/api/queue/tokens", {"concert_id": concert.pk}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "room_closed")
    again = services.queue_token_issue(user_id=inside.pk, concert_id=concert.pk)
    assert again.token == kept.token
    assert queue_redis().zcard(room_keys(f"c{concert.pk}").waiting) == 1


def test_passthrough_admits_at_once_and_paused_admits_nobody(make_users):
    small, big = ConcertFactory(), ConcertFactory()
    first, second = make_users(2)
    services.room_save(concert_id=small.pk, mode="passthrough", capacity=1)
    services.room_save(concert_id=big.pk, mode="paused")
    tickets = [
        services.queue_token_issue(user_id=u.pk, concert_id=small.pk) for u in (first, second)
    ]
    # Small shows need no queue: past even the room's capacity.
    assert [t.status for t in tickets] == ["active", "active"]

    waiting = services.queue_token_issue(user_id=first.pk, concert_id=big.pk)
    config = room_of_concert(big.pk)
    assert services.queue_promote(config=config) == 0
    services.room_save(concert_id=big.pk, mode="fifo")
    assert services.queue_promote(config=room_of_concert(big.pk)) == 1
    assert queue_token_status(token=waiting.token, user_id=first.pk).status == "active"


def test_a_scheduled_mode_change_takes_over_at_its_time(make_users):
    concert = ConcertFactory()
    (user,) = make_users(1)
    soon = timezone.now() + timedelta(seconds=1)
    services.room_save(concert_id=concert.pk, mode="paused", next_mode="fifo", next_mode_at=soon)
    services.queue_token_issue(user_id=user.pk, concert_id=concert.pk)
    assert services.queue_promote_all() == 0
    config = room_of_concert(concert.pk)
    assert config.mode_at(soon + timedelta(milliseconds=1)) == "fifo"
    while timezone.now() <= soon:
        pass
    assert services.queue_promote_all() == 1
    saved = room_of_concert(concert.pk)
    assert (saved.mode, saved.next_mode, saved.next_mode_at) == ("fifo", "", None)


def test_capacity_and_pace_are_per_room(make_users):
    a, b = ConcertFactory(), ConcertFactory()
    users = make_users(6)
    services.room_save(concert_id=a.pk, capacity=1)
    services.room_save(concert_id=b.pk, capacity=3, admit_per_tick=2)
    for user in users:
        services.queue_token_issue(user_id=user.pk, concert_id=a.pk)
        services.queue_token_issue(user_id=user.pk, concert_id=b.pk)
    assert services.queue_promote_all() == 1 + 2
    assert services.queue_promote_all() == 0 + 1
    assert services.queue_promote_all() == 0


def test_a_sold_out_room_admits_nobody_until_seats_come_back(make_users):
    schedule = schedule_with_seats(2)
    concert_id = schedule.concert_id
    holders = make_users(2, prefix="holder")
    (waiter,) = make_users(1, prefix="waiter")
    services.room_save(concert_id=concert_id)
    holds = [
        reservation_hold(user=u, seat_id=seat.pk)
        for u, seat in zip(holders, schedule.seats.all(), strict=True)
    ]
    ticket = services.queue_token_issue(user_id=waiter.pk, concert_id=concert_id)
    assert rooms_free_seats_count() == 1
    status = queue_token_status(token=ticket.token, user_id=waiter.pk)
    assert (status.status, status.position, status.chance_of_seat) == ("sold_out", 1, 0.0)
    tick = services.queue_promote_tick(config=room_of_concert(concert_id))
    assert (tick.admitted, tick.sold_out) == ([], True)

    # One hold is released: a seat is back, and the next tick lets the waiter in.
    from booking.services import reservation_cancel

    reservation_cancel(user=holders[0], reservation_id=holds[0]["reservation_id"])
    rooms_free_seats_count()
    status = queue_token_status(token=ticket.token, user_id=waiter.pk)
    assert (status.status, status.chance_of_seat) == ("waiting", 1.0)
    assert services.queue_promote_tick(config=room_of_concert(concert_id)).admitted == [waiter.pk]


def test_the_chance_of_a_seat_counts_those_ahead_and_choosing(make_users):
    schedule = schedule_with_seats(3)
    concert_id = schedule.concert_id
    users = make_users(5)
    services.room_save(concert_id=concert_id, capacity=2)
    tickets = [services.queue_token_issue(user_id=u.pk, concert_id=concert_id) for u in users]
    rooms_free_seats_count()
    services.queue_promote(config=room_of_concert(concert_id))  # two choosing, three waiting
    chances = [
        queue_token_status(token=t.token, user_id=u.pk).chance_of_seat
        for t, u in zip(tickets[2:], users[2:], strict=True)
    ]
    # 3 seats for: 2 choosing + position 1, 2, 3.
    assert chances == [1.0, 0.75, 0.6]


def test_join_poll_and_gate_are_one_round_trip_each_whatever_the_rooms(
    user, two_rooms, redis_round_trips
):
    a, b, _ = two_rooms
    waiting = {
        concert_id: services.queue_token_issue(user_id=user.pk, concert_id=concert_id).token
        for concert_id in (a.concert_id, b.concert_id, None)
    }
    token = admit(user, b.concert_id)
    client = _client(user)
    path = f"/api/concerts/{b.concert_id}/available-dates"
    client.get(path, HTTP_QUEUE_TOKEN=token)  # the rooms and the caller, cached
    calls = [
        lambda: client.post("/api/queue/tokens", {"concert_id": a.concert_id}, format="json"),
        lambda: client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token),
        # The gate refuses a waiting place: only its check runs.
        lambda: client.post(
            "/api/reservation/concerts",
            {"seat_id": 1},
            format="json",
            HTTP_QUEUE_TOKEN=waiting[a.concert_id],
        ),
    ]
    for call in calls:
        redis_round_trips.clear()
        call()
        assert len(redis_round_trips) == 1


def test_a_room_admits_no_more_than_the_seats_left_for_them(make_users):
    schedule = schedule_with_seats(3)
    concert_id = schedule.concert_id
    users = make_users(6)
    services.room_save(concert_id=concert_id, capacity=10, admit_per_tick=10)
    for user in users:
        services.queue_token_issue(user_id=user.pk, concert_id=concert_id)
    rooms_free_seats_count()
    config = room_of_concert(concert_id)
    assert services.queue_promote_tick(config=config).admitted == [u.pk for u in users[:3]]
    # Three choosing for three seats: nobody else comes in to an empty seat map.
    assert services.queue_promote_tick(config=config).admitted == []
    # One leaves without buying: their seat is free for the next.
    services.queue_release_user(user_id=users[0].pk, room=config.name)
    assert services.queue_promote_tick(config=config).admitted == [users[3].pk]


@pytest.mark.parametrize("token", ["main.\u00b2.x", "main.1." + "\u00e9" * 22, "c1." + "9" * 40])
def test_a_token_of_foreign_digits_is_refused_not_a_500(user, token):
    client = _client(user)
    for response in (
        client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token),
        client.get("/api/concerts/1/available-dates", HTTP_QUEUE_TOKEN=token),
    ):
        assert (response.status_code, response.json()["code"]) == (403, "queue_token_invalid")


def test_the_console_answers_404_for_rooms_that_are_not(admin_client):
    for key in ("\u00b2", "9" * 30, "abc"):
        assert admin_client.get(f"/admin/queueing/queueroom/room/{key}/").status_code == 404
    assert admin_client.get("/admin/queueing/queueroom/abc/change/").status_code in (302, 404)
