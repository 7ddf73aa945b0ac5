"""Queue writes: taking and leaving places, the promotion tick, and the operator settings."""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace

from django.db import transaction

from queueing import store
from queueing.errors import QueueTokenInvalid
from queueing.models import QueueSettings
from queueing.selectors import (
    QueueConfig,
    QueueTicket,
    queue_config,
    queue_config_forget,
    ticket_from_state,
)

logger = logging.getLogger(__name__)

# 24 random bytes = 192 bits, 32 URL-safe characters: unguessable, and short in Redis.
TOKEN_BYTES = 24


def queue_token_issue(*, user_id: int) -> QueueTicket:
    """A place at the back of the queue, or the user's live place (token and position kept)."""
    config = queue_config()
    state = store.issue(
        user_id=user_id,
        fresh_token=secrets.token_urlsafe(TOKEN_BYTES),
        abandon_ms=config.abandon_seconds * 1000,
    )
    return ticket_from_state(state, config)


def queue_token_leave(*, token: str, user_id: int) -> None:
    """Give up the place `token` holds, waiting or active; it must be the user's live token."""
    if not store.release(user_id=user_id, token=token):
        raise QueueTokenInvalid()


def queue_release_user(*, user_id: int) -> None:
    """End the user's active token so the slot is admitted on the next tick."""
    store.release(user_id=user_id, only_active=True)


def queue_promote(*, config: QueueConfig | None = None) -> int:
    """Admit waiting tokens in arrival order while there is capacity; returns how many.

    Also ends sessions past their length and drops waiters who stopped polling. Safe to run from
    several processes at once: the whole tick is one Lua script.
    """
    return len(queue_promote_tick(config=config).admitted)


def queue_promote_tick(*, config: QueueConfig | None = None) -> store.PromoteResult:
    """`queue_promote` with the details: who was admitted, in order, and what was cleaned up."""
    config = config or queue_config()
    result = store.promote(
        capacity=config.capacity,
        admit_per_tick=config.admit_per_tick,
        session_ms=config.session_seconds * 1000,
        abandon_ms=config.abandon_seconds * 1000,
        paused=config.paused,
    )
    if result.admitted or result.expired or result.abandoned:
        logger.info(
            "queue tick: admitted %d, sessions ended %d, abandoned %d",
            len(result.admitted),
            result.expired,
            result.abandoned,
        )
    return result


def queue_settings_update(
    *,
    capacity: int | None = None,
    admit_per_tick: int | None = None,
    session_seconds: int | None = None,
    abandon_seconds: int | None = None,
    paused: bool | None = None,
) -> QueueConfig:
    """Save the operator's settings; fields left out keep their current values.

    The check constraints refuse values that are not positive (IntegrityError).
    """
    changes = {
        name: value
        for name, value in {
            "capacity": capacity,
            "admit_per_tick": admit_per_tick,
            "session_seconds": session_seconds,
            "abandon_seconds": abandon_seconds,
            "paused": paused,
        }.items()
        if value is not None
    }
    queue_config_forget()
    config = replace(queue_config(), **changes)
    QueueSettings.objects.update_or_create(
        pk=QueueSettings.SINGLETON_ID,
        defaults={
            "capacity": config.capacity,
            "admit_per_tick": config.admit_per_tick,
            "session_seconds": config.session_seconds,
            "abandon_seconds": config.abandon_seconds,
            "paused": config.paused,
        },
    )
    # Forget now (this transaction reads the new row) and again once committed, in case another
    # thread cached the old row in between.
    queue_config_forget()
    transaction.on_commit(queue_config_forget)
    return config
