"""Queue writes: taking and leaving places, the promotion tick, and the rooms' settings."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from concertbooking.api import api_datetime
from queueing import store, tokens
from queueing.errors import (
    ConcertNotFound,
    QueueTokenInvalid,
    QueueUnavailable,
    RoomClosed,
    SaleNotOpen,
)
from queueing.models import QueueRoom, RoomMode, new_seed
from queueing.selectors import (
    QueueTicket,
    RoomConfig,
    concert_exists,
    room_for_concert,
    room_named,
    room_of_concert,
    rooms_all,
    rooms_forget,
    site_room,
    ticket_from_state,
)

logger = logging.getLogger(__name__)


def queue_token_issue(*, user_id: int, concert_id: int | None = None) -> QueueTicket:
    """A place in the room that guards `concert_id` (the site-wide room without one), or the
    user's live place there (token and position kept)."""
    if concert_id is None:
        config = site_room()
    else:
        config = room_for_concert(concert_id)
        if config.concert_id is None and not concert_exists(concert_id):
            raise ConcertNotFound()
    now = timezone.now()
    phase = config.phase(now)
    if phase == "not_open":
        raise SaleNotOpen(
            f"The queue opens at {api_datetime(config.prequeue_opens_at)}.",
            opens_at=api_datetime(config.prequeue_opens_at),
        )
    draw_key = 0
    # Whenever there is a start: the script decides by Redis's clock, which may differ a little
    # from this host's, whether the place is taken before it.
    if config.sale_starts_at is not None:
        draw_key = tokens.draw_key(
            seed=config.seed, draw_id=tokens.draw_id(room=config.name, user_id=user_id)
        )
    state = store.issue(
        room=config.name,
        user_id=user_id,
        draw_key=draw_key,
        abandon_ms=config.abandon_seconds * 1000,
        starts_ms=config.starts_ms,
        mode=config.mode_at(now),
        session_ms=config.session_seconds * 1000,
        idle_ms=settings.QUEUE_IDLE_SECONDS * 1000,
    )
    if state is None:
        raise RoomClosed()
    return ticket_from_state(state, config, user_id=user_id)


def queue_token_leave(*, token: str, user_id: int) -> None:
    """Give up the place `token` holds, waiting or active; it must be the user's live token."""
    place = tokens.token_read(token, user_id=user_id)
    if place is None or room_named(place.room) is None:
        raise QueueTokenInvalid()
    if not store.release(room=place.room, user_id=user_id, stamp=place.stamp):
        raise QueueTokenInvalid()


def queue_release_user(*, user_id: int, room: str) -> None:
    """End the user's active place in `room` so the slot is admitted on the next tick."""
    store.release(room=room, user_id=user_id, only_active=True)


def queue_slot_keep(*, user_id: int, room: str, held_until: datetime | None) -> None:
    """The user's holds that keep their slot in `room` changed: the slot lasts until the last
    of them runs out (`held_until`; None when they hold none), then QUEUE_IDLE_SECONDS more,
    never past the session's end, so a buyer who stops choosing makes way for the next."""
    store.keep(
        room=room,
        user_id=user_id,
        held_until_ms=0 if held_until is None else int(held_until.timestamp() * 1000),
        idle_ms=settings.QUEUE_IDLE_SECONDS * 1000,
    )


def queue_promote(*, config: RoomConfig | None = None) -> int:
    """Admit waiting places of one room (the site-wide room by default) while there is
    capacity; returns how many.

    Also ends sessions past their length and drops waiters who stopped polling. Safe to run from
    several processes at once: the whole tick is one Lua script.
    """
    return len(queue_promote_tick(config=config).admitted)


def queue_promote_tick(*, config: RoomConfig | None = None) -> store.PromoteResult:
    """`queue_promote` with the details: who was admitted, in order, and what was cleaned up."""
    config = config or site_room()
    mode = config.mode_at(timezone.now())
    result = store.promote(
        room=config.name,
        capacity=config.capacity,
        admit_per_tick=config.admit_per_tick,
        session_ms=config.session_seconds * 1000,
        abandon_ms=config.abandon_seconds * 1000,
        admitting=mode != RoomMode.PAUSED,
        starts_ms=config.starts_ms,
        passthrough=mode == RoomMode.PASSTHROUGH,
        idle_ms=settings.QUEUE_IDLE_SECONDS * 1000,
    )
    if result.admitted or result.expired or result.abandoned:
        logger.info(
            "queue tick %s: admitted %d, sessions ended %d, abandoned %d",
            config.name,
            len(result.admitted),
            result.expired,
            result.abandoned,
        )
    return result


def queue_promote_all() -> int:
    """One tick of every room; returns how many were admitted in all. A scheduled mode change
    that is due is saved on the way, so the console shows it as the room's mode.

    A room whose store is away (its Redis Cluster master down) is skipped with a warning: the
    rooms on the other masters are admitted all the same."""
    now = timezone.now()
    admitted = 0
    for config in rooms_all():
        if config.saved and config.next_mode and config.next_mode_at <= now:
            room_mode_apply_due(concert_id=config.concert_id, now=now)
        try:
            admitted += queue_promote(config=config)
        except QueueUnavailable:
            logger.warning("queue tick %s: skipped, its store is unavailable", config.name)
    return admitted


def _rooms_of(concert_id: int | None):
    return QueueRoom.objects.filter(
        **({"concert__isnull": True} if concert_id is None else {"concert_id": concert_id})
    )


def room_mode_apply_due(*, concert_id: int | None, now: datetime) -> None:
    _rooms_of(concert_id).filter(next_mode_at__lte=now).exclude(next_mode="").update(
        mode=F("next_mode"), next_mode="", next_mode_at=None, updated_at=now
    )
    _forget_rooms()


def _forget_rooms() -> None:
    # Forget now (this transaction reads the new row) and again once committed, in case another
    # thread cached the old row in between.
    rooms_forget()
    transaction.on_commit(rooms_forget)


def room_save(*, concert_id: int | None, **changes) -> RoomConfig:
    """Create or change a room; fields left out keep their values (defaults for a new room).

    A concert whose sale moves to a new start after its last draw gets a new seed: a seed is
    used for one draw only. A start moved into the future puts everyone waiting into its draw.
    The check constraints refuse values that are not positive (IntegrityError).
    """
    unknown = set(changes) - set(QueueRoom.SETTINGS)
    if unknown:
        raise TypeError(f"unknown room fields: {sorted(unknown)}")
    with transaction.atomic():
        row = _rooms_of(concert_id).select_for_update().first()
        if row is None:
            base = RoomConfig.defaults(concert_id)
            row = QueueRoom(
                concert_id=concert_id,
                capacity=base.capacity,
                admit_per_tick=base.admit_per_tick,
                session_seconds=base.session_seconds,
                abandon_seconds=base.abandon_seconds,
            )
        old_start = row.sale_starts_at
        for name, value in changes.items():
            setattr(row, name, value)
        if not row.next_mode:
            row.next_mode_at = None
        now = timezone.now()
        # A new on-sale after a drawn one: its pre-queue needs a seed nobody has seen.
        moved = row.sale_starts_at != old_start
        drawn = old_start is not None and old_start <= now
        ahead = row.sale_starts_at is not None and row.sale_starts_at > now
        if moved and drawn and ahead:
            row.seed = new_seed()
        row.save()
        _forget_rooms()
        if moved and ahead:
            # Robust: the room is saved either way; with Redis away the places keep their keys.
            transaction.on_commit(
                lambda: _waiting_into_draw(room_of_concert(concert_id)), robust=True
            )
    return room_of_concert(concert_id) or RoomConfig.defaults()


def _waiting_into_draw(config: RoomConfig | None) -> None:
    """A start moved into the future: everyone already waiting in the room takes part in its
    draw, keyed by the room's seed like any pre-queue place. Nobody is admitted before the
    start, so the keys need not all change at once; their tokens change with them, and joining
    again hands each their place's new one."""
    if config is None:
        return
    store.waiting_rekey(
        room=config.name,
        key_of=lambda user_id: tokens.draw_key(
            seed=config.seed, draw_id=tokens.draw_id(room=config.name, user_id=user_id)
        ),
    )


def queue_settings_update(**changes) -> RoomConfig:
    """The site-wide room's settings (`paused` switches its mode)."""
    paused = changes.pop("paused", None)
    if paused is not None:
        changes["mode"] = RoomMode.PAUSED if paused else RoomMode.FIFO
    return room_save(concert_id=None, **changes)


def room_free_seats_update(*, concert_id: int, free: int) -> None:
    """Booking's count of a concert's free seats, for its room's admissions and chances."""
    config = room_of_concert(concert_id)
    if config is not None:
        # Three ticks without a fresh count and the room forgets it rather than stay shut.
        ttl = max(5, int(settings.QUEUE_PROMOTE_INTERVAL_SECONDS * 3))
        store.free_seats_set(room=config.name, free=free, ttl_seconds=ttl)
