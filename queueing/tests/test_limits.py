"""Queue polls too fast and idle slots, against real Redis: a poll storm is refused for the one
who storms it alone, and an admitted user who holds nothing makes way for the next."""

import time

import pytest
from rest_framework.test import APIClient

from booking import services as booking_services
from booking.tests.factories import SeatFactory
from concertbooking.redis import queue_redis
from queueing import services, store
from queueing.keys import room_keys
from queueing.selectors import site_room
from queueing.testing import admit

pytestmark = pytest.mark.django_db


def _poller(user, token: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_QUEUE_TOKEN=token)
    return client


def test_a_poll_storm_is_refused_while_another_users_polls_answer(
    rate_limits, settings, user, other_user
):
    settings.RATE_LIMIT_QUEUE_POLL_BURST = 3
    storm = _poller(user, services.queue_token_issue(user_id=user.pk).token)
    calm = _poller(other_user, services.queue_token_issue(user_id=other_user.pk).token)
    poll_entry = room_keys(site_room().name).poll(user.pk)

    answers = []
    for _ in range(30):
        answers.append(storm.get("/api/queue/tokens/current"))
    codes = [answer.status_code for answer in answers]
    # The burst allowance passes (one or two more as time moves on), the rest are refused.
    assert codes[:4] == [200] * 4
    assert codes.count(429) >= 20
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 4

    # A refused poll changes nothing stored: the place's entry stays as the last answer left it.
    seen = queue_redis().hget(poll_entry, user.pk)
    assert storm.get("/api/queue/tokens/current").status_code == 429
    assert queue_redis().hget(poll_entry, user.pk) == seen

    assert calm.get("/api/queue/tokens/current").status_code == 200
    # The one who stormed keeps the place and is answered again once the allowance is back.
    time.sleep(int(refused["Retry-After"]))
    assert storm.get("/api/queue/tokens/current").status_code == 200


def test_without_rate_limits_polls_are_not_counted(settings, user):
    assert not settings.RATE_LIMITS_ENABLED
    poller = _poller(user, services.queue_token_issue(user_id=user.pk).token)
    assert {poller.get("/api/queue/tokens/current").status_code for _ in range(20)} == {200}


def test_the_waiting_room_page_says_to_wait_after_a_storm(rate_limits, settings, user):
    from queueing.testing import page_client

    settings.RATE_LIMIT_QUEUE_POLL_BURST = 0
    client = page_client(user, admitted=False)
    client.post("/queue/join", {"next": "/"})
    pages = [client.get("/queue/") for _ in range(5)]
    refused = [page for page in pages if page.status_code == 429]
    assert refused
    assert "faster than asked" in refused[0].content.decode()
    assert int(refused[0]["Retry-After"]) >= 1


def _is_active(user, token: str) -> bool:
    from queueing.tokens import token_read

    place = token_read(token, user_id=user.pk)
    verdict, _ = store.gate(room=place.room, user_id=user.pk, stamp=place.stamp, abandon_ms=120_000)
    return verdict == store.GATE_ACTIVE


@pytest.mark.django_db(transaction=True)
def test_an_idle_admitted_user_loses_the_slot_to_the_next_one(settings, user, other_user):
    settings.QUEUE_IDLE_SECONDS = 1
    services.queue_settings_update(capacity=1, admit_per_tick=1)
    idle = services.queue_token_issue(user_id=user.pk)
    services.queue_promote()
    waiting = services.queue_token_issue(user_id=other_user.pk)
    assert _is_active(user, idle.token)
    assert waiting.status == "waiting"

    # The next waiter keeps polling while the admitted user does nothing.
    time.sleep(1.2)
    services.queue_token_issue(user_id=other_user.pk)
    assert services.queue_promote() == 1
    assert not _is_active(user, idle.token)
    assert _is_active(other_user, waiting.token)


@pytest.mark.django_db(transaction=True)
def test_a_user_who_holds_keeps_the_slot_and_releasing_restarts_the_idle_time(
    settings, user, other_user
):
    settings.QUEUE_IDLE_SECONDS = 1
    services.queue_settings_update(capacity=1, admit_per_tick=1)
    token = services.queue_token_issue(user_id=user.pk).token
    services.queue_promote()
    services.queue_token_issue(user_id=other_user.pk)
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)

    time.sleep(1.2)
    services.queue_token_issue(user_id=other_user.pk)
    assert services.queue_promote() == 0
    assert _is_active(user, token)

    booking_services.reservation_cancel(user=user, reservation_id=hold["reservation_id"])
    assert _is_active(user, token)
    time.sleep(1.2)
    services.queue_token_issue(user_id=other_user.pk)
    assert services.queue_promote() == 1
    assert not _is_active(user, token)


def test_admission_gives_the_idle_deadline_not_the_whole_session(settings, user):
    settings.QUEUE_IDLE_SECONDS = 30
    admit(user)
    ticket = services.queue_token_issue(user_id=user.pk)
    assert ticket.status == "active"
    remaining = ticket.expires_at.timestamp() - time.time()
    assert 25 < remaining <= 30


def _deadline_s(room: str, user) -> float:
    """Seconds until the user's slot in `room` lapses."""
    return queue_redis().zscore(room_keys(room).active, user.pk) / 1000 - time.time()


def test_a_slot_lasts_while_the_rooms_holds_do_then_the_idle_time(
    settings, user, django_capture_on_commit_callbacks
):
    """A hold on another concert (another room) keeps nothing in this one."""
    from booking.tests.factories import schedule_with_seats

    settings.QUEUE_IDLE_SECONDS = 30
    a, b = schedule_with_seats(2), schedule_with_seats(2)
    services.room_save(concert_id=a.concert_id)
    services.room_save(concert_id=b.concert_id)
    admit(user, a.concert_id)
    admit(user, b.concert_id)
    with django_capture_on_commit_callbacks(execute=True):
        booking_services.reservation_hold(user=user, seat_id=a.seats.first().pk)
    with django_capture_on_commit_callbacks(execute=True):
        hold_b = booking_services.reservation_hold(user=user, seat_id=b.seats.first().pk)
    held = settings.HOLD_SECONDS + settings.QUEUE_IDLE_SECONDS
    assert held - 2 < _deadline_s(f"c{b.concert_id}", user) <= held

    with django_capture_on_commit_callbacks(execute=True):
        booking_services.reservation_cancel(user=user, reservation_id=hold_b["reservation_id"])
    assert _deadline_s(f"c{b.concert_id}", user) <= settings.QUEUE_IDLE_SECONDS
    assert _deadline_s(f"c{a.concert_id}", user) > held - 2


def test_a_hold_that_runs_out_leaves_only_the_idle_time(
    settings, user, django_capture_on_commit_callbacks
):
    """No sweep needs to tell the queue: the slot was given until the hold's end plus idle."""
    from booking.tests.factories import schedule_with_seats

    settings.QUEUE_IDLE_SECONDS = 30
    settings.QUEUE_SESSION_SECONDS = 3600
    schedule = schedule_with_seats(1)
    admit(user)
    with django_capture_on_commit_callbacks(execute=True):
        hold = booking_services.reservation_hold(user=user, seat_id=schedule.seats.first().pk)
    until = queue_redis().zscore(room_keys(site_room().name).active, user.pk) / 1000
    assert until == pytest.approx(
        hold["expires_at"].timestamp() + settings.QUEUE_IDLE_SECONDS, abs=0.01
    )
