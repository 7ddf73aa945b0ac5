"""Queue services over real Redis: order, re-issue, abandonment, expiry, pause, release."""

import time

import pytest
from django.db import IntegrityError, transaction

from concertbooking.redis import queue_redis
from queueing import services, store, tokens
from queueing.errors import QueueTokenInvalid
from queueing.keys import room_keys
from queueing.models import QueueRoom
from queueing.selectors import queue_stats, queue_token_status, rooms_forget, site_room

pytestmark = pytest.mark.django_db


def _issue_all(users):
    return [services.queue_token_issue(user_id=u.pk) for u in users]


def _gate(ticket, user) -> tuple[int, int | None]:
    place = tokens.token_read(ticket.token, user_id=user.pk)
    return store.gate(room=place.room, user_id=user.pk, stamp=place.stamp, abandon_ms=60_000)


def test_tokens_are_long_random_and_positions_follow_arrival(make_users):
    users = make_users(3)
    tickets = _issue_all(users)
    assert [t.position for t in tickets] == [1, 2, 3]
    assert all(t.status == "waiting" and t.created for t in tickets)
    assert len({t.token for t in tickets}) == 3
    # The room, the place's stamp and 128 bits of HMAC.
    assert all(t.token.startswith("main.") and len(t.token.split(".")[2]) == 22 for t in tickets)
    assert all(t.estimated_wait_seconds >= 1 for t in tickets)
    assert tickets[0].estimated_wait_seconds <= tickets[2].estimated_wait_seconds


def test_reissue_returns_the_same_token_and_place(make_users):
    first, second = make_users(2)
    ticket = services.queue_token_issue(user_id=first.pk)
    services.queue_token_issue(user_id=second.pk)
    again = services.queue_token_issue(user_id=first.pk)
    assert (again.token, again.position, again.created) == (ticket.token, 1, False)
    assert queue_redis().zcard(room_keys("main").waiting) == 2

    services.queue_promote()
    active = services.queue_token_issue(user_id=first.pk)
    assert (active.token, active.status, active.position) == (ticket.token, "active", None)


def test_promotion_admits_from_the_head_up_to_capacity(make_users, queue_settings):
    users = make_users(5)
    tickets = _issue_all(users)
    queue_settings(capacity=3, admit_per_tick=2)
    assert services.queue_promote_tick().admitted == [users[0].pk, users[1].pk]
    assert services.queue_promote_tick().admitted == [users[2].pk]  # capacity reached
    assert services.queue_promote() == 0
    assert queue_token_status(token=tickets[3].token, user_id=users[3].pk).position == 1
    stats = queue_stats()
    assert (stats.waiting, stats.active, stats.admitted_total) == (2, 3, 3)
    assert stats.admissions_per_minute > 0
    assert stats.head_of_line_wait_seconds is not None


def test_status_refuses_other_users_and_forged_tokens(make_users):
    owner, stranger = make_users(2)
    ticket = services.queue_token_issue(user_id=owner.pk)
    with pytest.raises(QueueTokenInvalid):
        queue_token_status(token=ticket.token, user_id=stranger.pk)
    with pytest.raises(QueueTokenInvalid):
        # Its last character changed (a token ending in "x" would otherwise forge itself).
        forged = ticket.token[:-1] + ("y" if ticket.token.endswith("x") else "x")
        queue_token_status(token=forged, user_id=owner.pk)
    assert queue_token_status(token=ticket.token, user_id=owner.pk).position == 1


def test_abandoned_waiter_is_dropped_and_the_next_moves_up(make_users, queue_settings):
    gone, patient = make_users(2)
    queue_settings(abandon_seconds=1, paused=True)
    lost = services.queue_token_issue(user_id=gone.pk)
    kept = services.queue_token_issue(user_id=patient.pk)
    time.sleep(0.6)
    assert queue_token_status(token=kept.token, user_id=patient.pk).position == 2
    time.sleep(0.6)  # `gone` last polled 1.2 s ago, `patient` 0.6 s ago

    tick = services.queue_promote_tick()
    assert (tick.abandoned, tick.admitted) == (1, [])
    assert queue_token_status(token=kept.token, user_id=patient.pk).position == 1
    with pytest.raises(QueueTokenInvalid):
        queue_token_status(token=lost.token, user_id=gone.pk)

    queue_settings(paused=False)
    assert services.queue_promote_tick().admitted == [patient.pk]
    # Coming back after losing the place means a new token at the back.
    again = services.queue_token_issue(user_id=gone.pk)
    assert again.created and again.token != lost.token


def test_abandoned_waiters_at_the_head_never_stall_admission(make_users):
    users = make_users(6)
    _issue_all(users)
    keys = room_keys("main")
    # Five waiters stopped polling long ago, more than one sweep (limit 3) takes.
    for user in users[:5]:
        queue_redis().hset(keys.poll(user.pk), str(user.pk), "1:1")
    result = store.promote(
        room="main",
        capacity=10,
        admit_per_tick=10,
        session_ms=60_000,
        abandon_ms=site_room().abandon_seconds * 1000,
        admitting=True,
        sweep_limit=3,
    )
    assert result.admitted == [users[5].pk]
    assert result.abandoned == 5


def test_abandoned_waiter_asking_again_gets_a_new_place(make_users, queue_settings):
    user, other = make_users(2)
    queue_settings(abandon_seconds=1, paused=True)
    lost = services.queue_token_issue(user_id=user.pk)
    time.sleep(1.1)
    services.queue_token_issue(user_id=other.pk)
    again = services.queue_token_issue(user_id=user.pk)
    assert again.created and again.token != lost.token and again.position == 2


def test_session_expiry_frees_the_slot(make_users, queue_settings):
    first, second = make_users(2)
    queue_settings(capacity=1, session_seconds=1)
    admitted = services.queue_token_issue(user_id=first.pk)
    waiting = services.queue_token_issue(user_id=second.pk)
    assert services.queue_promote_tick().admitted == [first.pk]
    assert services.queue_promote() == 0
    assert _gate(admitted, first) == (store.GATE_ACTIVE, None)

    time.sleep(1.1)
    # Refused at once, before any tick has cleaned up.
    assert _gate(admitted, first)[0] == store.GATE_INVALID
    tick = services.queue_promote_tick()
    assert (tick.expired, tick.admitted) == (1, [second.pk])
    assert queue_token_status(token=waiting.token, user_id=second.pk).status == "active"
    with pytest.raises(QueueTokenInvalid):
        queue_token_status(token=admitted.token, user_id=first.pk)


def test_pause_stops_admission_and_keeps_order(make_users, queue_settings):
    users = make_users(3)
    _issue_all(users)
    queue_settings(paused=True)
    assert services.queue_promote() == 0
    assert services.queue_promote() == 0
    queue_settings(paused=False)
    assert services.queue_promote_tick().admitted == [u.pk for u in users]


def test_release_user_frees_the_slot_for_the_next_tick(make_users, queue_settings):
    first, second = make_users(2)
    queue_settings(capacity=1)
    ticket = services.queue_token_issue(user_id=first.pk)
    services.queue_token_issue(user_id=second.pk)
    services.queue_promote()
    services.queue_release_user(user_id=first.pk, room="main")
    assert _gate(ticket, first)[0] == store.GATE_INVALID
    assert services.queue_promote_tick().admitted == [second.pk]


def test_release_user_leaves_a_waiting_place_alone(make_users):
    (user,) = make_users(1)
    ticket = services.queue_token_issue(user_id=user.pk)
    services.queue_release_user(user_id=user.pk, room="main")
    services.queue_release_user(user_id=user.pk + 1000, room="main")  # nobody: nothing happens
    assert queue_token_status(token=ticket.token, user_id=user.pk).position == 1


def test_leaving_moves_the_queue_up(make_users):
    first, second = make_users(2)
    leaving = services.queue_token_issue(user_id=first.pk)
    staying = services.queue_token_issue(user_id=second.pk)
    with pytest.raises(QueueTokenInvalid):
        services.queue_token_leave(token=leaving.token, user_id=second.pk)
    services.queue_token_leave(token=leaving.token, user_id=first.pk)
    assert queue_token_status(token=staying.token, user_id=second.pk).position == 1
    with pytest.raises(QueueTokenInvalid):
        services.queue_token_leave(token=leaving.token, user_id=first.pk)


def test_settings_default_from_django_settings(settings):
    settings.QUEUE_CAPACITY = 7
    config = site_room()
    assert (config.capacity, config.mode, config.saved) == (7, "fifo", False)


def test_settings_row_overrides_defaults_and_is_cached(queue_settings, django_assert_num_queries):
    queue_settings(capacity=5, admit_per_tick=2)
    rooms_forget()  # as another process would start: nothing cached
    with django_assert_num_queries(1):
        assert site_room().capacity == 5
        assert site_room().admit_per_tick == 2
    assert QueueRoom.objects.get().capacity == 5


@pytest.mark.parametrize(
    "field", ["capacity", "admit_per_tick", "session_seconds", "abandon_seconds"]
)
def test_settings_must_be_positive(queue_settings, field):
    with pytest.raises(IntegrityError), transaction.atomic():
        queue_settings(**{field: 0})


def test_only_one_site_wide_room(queue_settings):
    queue_settings(capacity=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        QueueRoom.objects.create(capacity=1, admit_per_tick=1, session_seconds=1, abandon_seconds=1)
