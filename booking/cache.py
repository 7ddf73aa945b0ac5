"""Redis cache of the catalog reads (free dates and seats), one generation counter per concert.

A read is one round trip: a Lua script reads the concert's generation and the cached entry of that
generation together. A write bumps the generation after its transaction commits, so every read
that starts after the writer's response sees the change. A reader that raced the write can only
store its stale answer under the generation just abandoned, where nobody looks again.

An entry also lives no longer than the first moment its answer could turn wrong with no write at
all (a hold running out frees its seat), which the computing selector reports.

The cache may fail (it is an accelerator): on a Redis error reads go to the database.
"""

import logging
import pickle
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_redis import get_redis_connection
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
T = TypeVar("T")

# KEYS: generation key, entry key prefix. ARGV: field. Returns {generation, entry or false}.
_READ = """
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', KEYS[2] .. generation .. ':' .. ARGV[1])}
"""
_script = None


def _generation_key(concert_id: int) -> str:
    # The hash tag keeps a concert's keys in one slot, should the cache become a cluster.
    return f"{settings.CACHE_KEY_PREFIX}:catalog:{{{concert_id}}}:generation"


def _entry_key(concert_id: int, generation: str = "") -> str:
    return f"{settings.CACHE_KEY_PREFIX}:catalog:{{{concert_id}}}:entry:{generation}"


def _client():
    global _script
    client = get_redis_connection("default")
    if _script is None:
        _script = client.register_script(_READ)
    return client, _script


def cached(*, concert_id: int, field: str, compute: Callable[[], tuple[T, datetime | None]]) -> T:
    """The cached value of `field` for the concert's current generation, computing it on a miss.

    `compute` returns (value, the moment the value may change by itself, or None).
    """
    try:
        client, read = _client()
        generation, entry = read(
            keys=[_generation_key(concert_id), _entry_key(concert_id)], args=[field]
        )
        if entry is not None:
            return pickle.loads(entry)
    except RedisError:
        log.warning("catalog cache unavailable; reading the database", exc_info=True)
        return compute()[0]
    value, changes_at = compute()
    ttl_ms = settings.CACHE_TTL_SECONDS * 1000
    if changes_at is not None:
        ttl_ms = min(ttl_ms, int((changes_at - timezone.now()).total_seconds() * 1000))
    if ttl_ms <= 0:
        return value
    try:
        client.set(
            f"{_entry_key(concert_id, generation.decode())}:{field}",
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL),
            px=ttl_ms,
        )
    except RedisError:
        log.warning("catalog cache unavailable; entry not stored", exc_info=True)
    return value


def _bump(concert_ids: set[int]) -> None:
    try:
        client, _ = _client()
        with client.pipeline(transaction=False) as pipe:
            for concert_id in sorted(concert_ids):
                pipe.incr(_generation_key(concert_id))
                # Generations outlive any entry, so a bumped counter never falls back to 0.
                pipe.expire(_generation_key(concert_id), 24 * 3600)
            pipe.execute()
    except RedisError:
        # Entries of the old generation then live at most CACHE_TTL_SECONDS longer.
        log.error("catalog cache invalidation failed for %s", sorted(concert_ids), exc_info=True)


def catalog_changed(*, concert_ids: Iterable[int]) -> None:
    """Seats of these concerts changed: drop their cached reads once the transaction commits."""
    ids = {int(concert_id) for concert_id in concert_ids}
    if ids:
        transaction.on_commit(lambda: _bump(ids))
