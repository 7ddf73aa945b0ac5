"""Queue reads: the rooms' settings (cached briefly), a place's state, and room figures."""

from __future__ import annotations

import math
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from queueing import store, tokens
from queueing.errors import QueuePollTooSoon, QueueTokenInvalid
from queueing.keys import FIFO_BASE, room_name
from queueing.models import QueueRoom, RoomMode

# Every poll and every gate check needs a room's settings; a few seconds of staleness after an
# operator's change is harmless, a database query per request is not.
CONFIG_CACHE_SECONDS = 3.0

# A pre-queue's polls after the start spread over this many seconds.
START_SPREAD_SECONDS = 10

_ROOM_FIELDS = ("concert_id", *QueueRoom.SETTINGS, "seed")


@dataclass(frozen=True)
class RoomConfig:
    concert_id: int | None  # None: the site-wide room
    capacity: int
    admit_per_tick: int
    session_seconds: int
    abandon_seconds: int
    mode: str = RoomMode.FIFO
    next_mode: str = ""
    next_mode_at: datetime | None = None
    sale_starts_at: datetime | None = None
    seed: str = ""
    saved: bool = True  # False: the site-wide room on settings.QUEUE_* (no row yet)

    @classmethod
    def defaults(cls, concert_id: int | None = None) -> RoomConfig:
        return cls(
            concert_id=concert_id,
            capacity=settings.QUEUE_CAPACITY,
            admit_per_tick=settings.QUEUE_ADMIT_PER_TICK,
            session_seconds=settings.QUEUE_SESSION_SECONDS,
            abandon_seconds=settings.QUEUE_ABANDON_SECONDS,
            saved=False,
        )

    @property
    def name(self) -> str:
        return room_name(self.concert_id)

    def mode_at(self, now: datetime) -> str:
        """The mode in force at `now`: a scheduled change takes over at its time."""
        if self.next_mode and self.next_mode_at and self.next_mode_at <= now:
            return self.next_mode
        return self.mode

    @property
    def prequeue_opens_at(self) -> datetime | None:
        if self.sale_starts_at is None:
            return None
        return self.sale_starts_at - timedelta(minutes=settings.PREQUEUE_MINUTES)

    def phase(self, now: datetime) -> str:
        """ "not_open" before the pre-queue, "prequeue" until the start, then "on_sale"."""
        if self.sale_starts_at is None or self.sale_starts_at <= now:
            return "on_sale"
        return "prequeue" if self.prequeue_opens_at <= now else "not_open"

    @property
    def starts_ms(self) -> int:
        """The sale start for the scripts (0: on sale)."""
        return 0 if self.sale_starts_at is None else int(self.sale_starts_at.timestamp() * 1000)

    @property
    def seed_sha256(self) -> str | None:
        return tokens.seed_hash(self.seed) if self.seed and self.sale_starts_at else None


_lock = threading.Lock()
# (expiry on the monotonic clock, concert id -> its room; None: the site-wide room's row)
_rooms: tuple[float, dict[int | None, RoomConfig]] | None = None


def _rooms_map() -> dict[int | None, RoomConfig]:
    """Every saved room, read in one query at most once per CONFIG_CACHE_SECONDS: rooms are
    few (the site's, and the concerts' with on-sales of their own), gate checks are many."""
    global _rooms
    cached = _rooms
    if cached and cached[0] > time.monotonic():
        return cached[1]
    with _lock:
        cached = _rooms  # another thread may have just refreshed it
        if cached and cached[0] > time.monotonic():
            return cached[1]
        rooms = {
            row["concert_id"]: RoomConfig(**row) for row in QueueRoom.objects.values(*_ROOM_FIELDS)
        }
        _rooms = (time.monotonic() + CONFIG_CACHE_SECONDS, rooms)
    return rooms


def room_of_concert(concert_id: int | None) -> RoomConfig | None:
    """The concert's own room (None: the site-wide room's saved row), or None when it has none."""
    return _rooms_map().get(concert_id)


def site_room() -> RoomConfig:
    """The site-wide room: the operator's saved row, else settings.QUEUE_*."""
    return room_of_concert(None) or RoomConfig.defaults()


def room_for_concert(concert_id: int) -> RoomConfig:
    """The room whose tokens admit to `concert_id`: its own, else the site-wide room."""
    return room_of_concert(concert_id) or site_room()


def room_named(name: str) -> RoomConfig | None:
    """The room a token's room name stands for; None when there is no such room (any more)."""
    if name == settings.QUEUE_ROOM:
        return site_room()
    if name[:1] == "c" and name[1:].isdigit():
        return room_of_concert(int(name[1:]))
    return None


def rooms_forget() -> None:
    """Drop this process's cached rooms (other processes notice within the cache time)."""
    global _rooms
    _rooms = None


def concert_exists(concert_id: int) -> bool:
    """Whether the concert is real. The queue sits below booking and imports none of it: it
    reaches the table through its own relation to it."""
    Concert = QueueRoom.concert.field.related_model
    return Concert.objects.filter(pk=concert_id).exists()


def rooms_all() -> list[RoomConfig]:
    """Every room to run ticks for: the site-wide room and each saved concert room."""
    rooms = _rooms_map()
    return [site_room(), *(rooms[key] for key in sorted(k for k in rooms if k is not None))]


@dataclass(frozen=True)
class QueueTicket:
    """What a client learns about its place: the API's response body."""

    token: str
    status: str  # "scheduled" | "waiting" | "sold_out" | "active"
    position: int | None
    estimated_wait_seconds: int | None
    poll_after_seconds: int
    expires_at: datetime
    concert_id: int | None = None
    sale_starts_at: datetime | None = None
    draw_id: str | None = None
    chance_of_seat: float | None = None
    created: bool = False


def ticket_from_state(
    state: store.PlaceState, config: RoomConfig, *, user_id: int, token: str | None = None
) -> QueueTicket:
    token = token or tokens.token_make(room=config.name, user_id=user_id, stamp=state.stamp)
    expires_at = datetime.fromtimestamp(state.expires_ms / 1000, tz=UTC)
    common = {
        "token": token,
        "expires_at": expires_at,
        "concert_id": config.concert_id,
        "sale_starts_at": config.sale_starts_at,
        "created": state.created,
    }
    if state.status == "active":
        remaining = max(0, math.ceil(state.expires_ms / 1000 - time.time()))
        return QueueTicket(
            status="active",
            position=None,
            estimated_wait_seconds=0,
            # Nothing to wait for; an occasional check shows the session's end.
            poll_after_seconds=max(1, min(60, remaining)),
            **common,
        )
    now = timezone.now()
    if config.phase(now) == "prequeue":
        until_start = math.ceil((config.sale_starts_at - now).total_seconds())
        longest = max(1, config.abandon_seconds // 4)
        draw_id = tokens.draw_id(room=config.name, user_id=user_id)
        if until_start <= longest:
            # Wake up just after the start, each at their own second of the first few, so a
            # whole pre-queue does not poll in the same one.
            until_start += int(draw_id[:4], 16) % min(longest, START_SPREAD_SECONDS)
        return QueueTicket(
            status="scheduled",
            position=None,
            estimated_wait_seconds=None,
            poll_after_seconds=max(1, min(longest, until_start)),
            draw_id=draw_id,
            **common,
        )
    # A place from the pre-queue keeps its draw id, to check against the published draw.
    drawn_id = (
        tokens.draw_id(room=config.name, user_id=user_id) if state.stamp < FIFO_BASE else None
    )
    free = state.free_seats
    chance = None
    if free is not None:
        # Everyone ahead, and everyone already choosing, may take a seat first.
        chance = round(min(1.0, free / (state.active + state.position)), 2)
    if free == 0:
        return QueueTicket(
            draw_id=drawn_id,
            status="sold_out",
            position=state.position,
            estimated_wait_seconds=None,
            poll_after_seconds=max(1, config.abandon_seconds // 4),
            chance_of_seat=0.0,
            **common,
        )
    wait = estimated_wait_seconds(position=state.position, rate=state.rate, config=config)
    return QueueTicket(
        draw_id=drawn_id,
        status="waiting",
        position=state.position,
        estimated_wait_seconds=wait,
        poll_after_seconds=poll_after_seconds(wait=wait, config=config),
        chance_of_seat=chance,
        **common,
    )


def estimated_wait_seconds(*, position: int, rate: float, config: RoomConfig) -> int:
    """Position over the admission rate seen in the last minute.

    Before any admission has been seen (a fresh on-sale, or a full house for a minute), assume
    the slowest steady state: every admitted person stays the whole session.
    """
    if rate <= 0:
        rate = config.capacity / config.session_seconds
    return math.ceil(position / rate)


def poll_after_seconds(*, wait: int, config: RoomConfig) -> int:
    """Near the head poll often, far back rarely; always well inside the abandonment timeout."""
    longest = max(1, config.abandon_seconds // 4)
    return max(1, min(longest, wait // 4))


def queue_token_status(*, token: str, user_id: int) -> QueueTicket:
    """The fresh state of `token`, which must be `user_id`'s live token; counts as a poll."""
    place = tokens.token_read(token, user_id=user_id)
    config = place and room_named(place.room)
    if config is None:
        raise QueueTokenInvalid()
    state = store.status(
        room=place.room,
        user_id=user_id,
        stamp=place.stamp,
        abandon_ms=config.abandon_seconds * 1000,
        poll_burst=settings.RATE_LIMIT_QUEUE_POLL_BURST if settings.RATE_LIMITS_ENABLED else -1,
    )
    if state is None:
        raise QueueTokenInvalid()
    if isinstance(state, int):
        wait = math.ceil(state / 1000)
        raise QueuePollTooSoon(
            f"You are checking your place faster than asked; check again in {wait} s.",
            retry_after=wait,
        )
    return ticket_from_state(state, config, user_id=user_id, token=token)


@dataclass(frozen=True)
class RoomStats:
    concert_id: int | None
    mode: str
    phase: str
    capacity: int
    waiting: int
    prequeued: int
    active: int
    admissions_per_minute: float
    head_of_line_wait_seconds: float | None
    median_wait_seconds: float | None
    admitted_total: int
    free_seats: int | None
    sale_starts_at: datetime | None
    seed_sha256: str | None
    abandoned_total: int = 0


def room_stats(config: RoomConfig) -> RoomStats:
    """Figures for the operator console (one Redis round trip)."""
    figures = store.figures(room=config.name)
    now = timezone.now()
    phase = config.phase(now)
    waits = figures.latest_waits_ms
    return RoomStats(
        concert_id=config.concert_id,
        mode=config.mode_at(now),
        phase=phase,
        capacity=config.capacity,
        waiting=figures.waiting,
        prequeued=figures.prequeued if phase == "prequeue" else 0,
        active=figures.active,
        admissions_per_minute=round(figures.rate * 60, 1),
        head_of_line_wait_seconds=None
        if figures.head_wait_ms is None
        else round(figures.head_wait_ms / 1000, 1),
        median_wait_seconds=round(statistics.median(waits) / 1000, 1) if waits else None,
        admitted_total=figures.admitted_total,
        free_seats=figures.free_seats,
        sale_starts_at=config.sale_starts_at,
        seed_sha256=config.seed_sha256,
        abandoned_total=figures.abandoned_total,
    )


def queue_stats() -> RoomStats:
    """The site-wide room's figures."""
    return room_stats(site_room())


@dataclass(frozen=True)
class RoomPublic:
    """What anyone may know of a concert's room: when it opens, and the draw's proof."""

    concert_id: int
    mode: str
    phase: str
    sale_starts_at: datetime | None
    prequeue_opens_at: datetime | None
    seed_sha256: str | None
    seed: str | None  # published once the sale has started
    drawn: int | None  # how many places the draw ordered


def room_public(*, concert_id: int, count_draw: bool = False) -> RoomPublic | None:
    """The concert's room as the public sees it; None when it has no room of its own. Only
    `count_draw` asks Redis (for `drawn`): pages need no round trip for it."""
    config = room_of_concert(concert_id)
    if config is None:
        return None
    now = timezone.now()
    phase = config.phase(now)
    drawn = None
    if count_draw and config.sale_starts_at is not None and phase == "on_sale":
        drawn = store.figures(room=config.name).drawn
    return RoomPublic(
        concert_id=concert_id,
        mode=config.mode_at(now),
        phase=phase,
        sale_starts_at=config.sale_starts_at,
        prequeue_opens_at=config.prequeue_opens_at,
        seed_sha256=config.seed_sha256 if phase != "not_open" else None,
        seed=config.seed if config.sale_starts_at is not None and phase == "on_sale" else None,
        drawn=drawn,
    )


def room_draw(*, concert_id: int, offset: int, limit: int) -> list[str]:
    """Draw ids of the drawn pre-queue in the draw's order (a page of them)."""
    config = room_of_concert(concert_id)
    if config is None or config.phase(timezone.now()) != "on_sale":
        return []
    user_ids = store.draw_page(room=config.name, start=offset, stop=offset + limit - 1)
    return [tokens.draw_id(room=config.name, user_id=uid) for uid in user_ids]


def room_history(config: RoomConfig) -> list[store.MinuteFigures]:
    """The room's last hour per minute, oldest first, for the console's chart (one round trip)."""
    return store.history(room=config.name)
