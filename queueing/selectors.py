"""Queue reads: the operator settings (cached briefly), a token's state, and room figures."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from queueing import store
from queueing.errors import QueueTokenInvalid
from queueing.models import QueueSettings

# Every poll and every tick needs the settings; a few seconds of staleness after an operator's
# change is harmless, a database query per poll is not.
CONFIG_CACHE_SECONDS = 3.0


@dataclass(frozen=True)
class QueueConfig:
    capacity: int
    admit_per_tick: int
    session_seconds: int
    abandon_seconds: int
    paused: bool

    @classmethod
    def defaults(cls) -> QueueConfig:
        return cls(
            capacity=settings.QUEUE_CAPACITY,
            admit_per_tick=settings.QUEUE_ADMIT_PER_TICK,
            session_seconds=settings.QUEUE_SESSION_SECONDS,
            abandon_seconds=settings.QUEUE_ABANDON_SECONDS,
            paused=False,
        )


_config_lock = threading.Lock()
_config_cached: tuple[float, QueueConfig] | None = None


def queue_config() -> QueueConfig:
    """The live settings: the database row if an operator saved one, else settings.QUEUE_*."""
    global _config_cached
    cached = _config_cached
    if cached and cached[0] > time.monotonic():
        return cached[1]
    with _config_lock:
        cached = _config_cached  # another thread may have just refreshed it
        if cached and cached[0] > time.monotonic():
            return cached[1]
        row = (
            QueueSettings.objects.filter(pk=QueueSettings.SINGLETON_ID)
            .values("capacity", "admit_per_tick", "session_seconds", "abandon_seconds", "paused")
            .first()
        )
        config = QueueConfig(**row) if row else QueueConfig.defaults()
        _config_cached = (time.monotonic() + CONFIG_CACHE_SECONDS, config)
    return config


def queue_config_forget() -> None:
    """Drop this process's cached settings (other processes notice within the cache time)."""
    global _config_cached
    _config_cached = None


@dataclass(frozen=True)
class QueueTicket:
    """What a client learns about its place: the API's response body."""

    token: str
    status: str
    position: int | None
    estimated_wait_seconds: int
    poll_after_seconds: int
    expires_at: datetime
    created: bool = False


def ticket_from_state(state: store.TokenState, config: QueueConfig) -> QueueTicket:
    expires_at = datetime.fromtimestamp(state.expires_ms / 1000, tz=UTC)
    if state.status == "active":
        remaining = max(0, math.ceil(state.expires_ms / 1000 - time.time()))
        return QueueTicket(
            token=state.token,
            status=state.status,
            position=None,
            estimated_wait_seconds=0,
            # Nothing to wait for; an occasional check shows the session's end.
            poll_after_seconds=max(1, min(60, remaining)),
            expires_at=expires_at,
            created=state.created,
        )
    wait = estimated_wait_seconds(position=state.position, rate=state.rate, config=config)
    return QueueTicket(
        token=state.token,
        status=state.status,
        position=state.position,
        estimated_wait_seconds=wait,
        poll_after_seconds=poll_after_seconds(wait=wait, config=config),
        expires_at=expires_at,
        created=state.created,
    )


def estimated_wait_seconds(*, position: int, rate: float, config: QueueConfig) -> int:
    """Position over the admission rate seen in the last minute.

    Before any admission has been seen (a fresh on-sale, or a full house for a minute), assume
    the slowest steady state: every admitted person stays the whole session.
    """
    if rate <= 0:
        rate = config.capacity / config.session_seconds
    return math.ceil(position / rate)


def poll_after_seconds(*, wait: int, config: QueueConfig) -> int:
    """Near the head poll often, far back rarely; always well inside the abandonment timeout."""
    longest = max(1, config.abandon_seconds // 4)
    return max(1, min(longest, wait // 4))


def queue_token_status(*, token: str, user_id: int) -> QueueTicket:
    """The fresh state of `token`, which must be `user_id`'s live token; counts as a poll."""
    config = queue_config()
    state = store.status(token=token, user_id=user_id, abandon_ms=config.abandon_seconds * 1000)
    if state is None:
        raise QueueTokenInvalid()
    return ticket_from_state(state, config)


@dataclass(frozen=True)
class QueueStats:
    waiting: int
    active: int
    admissions_per_minute: float
    head_of_line_wait_seconds: float | None
    admitted_total: int


def queue_stats() -> QueueStats:
    """Figures for the operator console (one Redis round trip)."""
    figures = store.stats()
    return QueueStats(
        waiting=figures.waiting,
        active=figures.active,
        admissions_per_minute=round(figures.rate * 60, 1),
        head_of_line_wait_seconds=None
        if figures.head_wait_ms is None
        else round(figures.head_wait_ms / 1000, 1),
        admitted_total=figures.admitted_total,
    )
