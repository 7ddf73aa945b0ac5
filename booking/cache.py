"""Redis cache of the catalog reads (free dates and seats), one generation per concert.

A read is one Lua round trip (the generation and its entry). A write bumps the generation after
commit, so a reader that raced it can only store its answer under an abandoned generation. An
entry never outlives the first moment its answer could turn wrong by itself (a hold running out).
On a Redis error reads go to the database: the cache is an accelerator.
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

# A generation is the server's clock (microseconds) plus a counter, so it never repeats: a plain
# INCR would count again from 1 after its key expired or was evicted and meet entries stored
# under those old numbers. A read that finds no generation starts one for the same reason.
_NEW_GENERATION = """
local function new_generation(key, ttl)
  local now = redis.call('TIME')
  local serial = redis.call('INCR', key .. ':serial')
  redis.call('EXPIRE', key .. ':serial', ttl)
  local generation = now[1] .. now[2] .. '.' .. serial
  redis.call('SET', key, generation, 'EX', ttl)
  return generation
end
"""
# KEYS: generation key, entry key prefix. ARGV: field, generation lifetime (s).
# Returns {generation, entry or false}.
_READ = (
    _NEW_GENERATION
    + """
local generation = redis.call('GET', KEYS[1]) or new_generation(KEYS[1], ARGV[2])
return {generation, redis.call('GET', KEYS[2] .. generation .. ':' .. ARGV[1])}
"""
)
# KEYS: generation keys. ARGV: generation lifetime (s).
_BUMP = (
    _NEW_GENERATION
    + """
for _, key in ipairs(KEYS) do
  new_generation(key, ARGV[1])
end
return #KEYS
"""
)
_scripts: dict[str, object] = {}


def _generation_key(concert_id: int) -> str:
    # The hash tag keeps a concert's keys in one slot, should the cache become a cluster.
    return f"{settings.CACHE_KEY_PREFIX}:catalog:{{{concert_id}}}:generation"


def _entry_key(concert_id: int, generation: str = "") -> str:
    return f"{settings.CACHE_KEY_PREFIX}:catalog:{{{concert_id}}}:entry:{generation}"


def _generation_lifetime() -> int:
    """Seconds a generation key lives: far longer than any entry made under it."""
    return max(24 * 3600, 10 * settings.CACHE_TTL_SECONDS)


def _client():
    client = get_redis_connection("default")
    if not _scripts:
        # Published in one step: a threaded worker's other threads see both scripts or neither.
        _scripts.update(read=client.register_script(_READ), bump=client.register_script(_BUMP))
    return client, _scripts


def cached(*, concert_id: int, field: str, compute: Callable[[], tuple[T, datetime | None]]) -> T:
    """The cached value of `field` for the concert's current generation, computing it on a miss.

    `compute` returns (value, the moment the value may change by itself, or None).
    """
    keys = [_generation_key(concert_id), _entry_key(concert_id)]
    args = [field, _generation_lifetime()]
    try:
        client, scripts = _client()
        generation, entry = scripts["read"](keys=keys, args=args)
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
        _, scripts = _client()
        scripts["bump"](
            keys=[_generation_key(concert_id) for concert_id in sorted(concert_ids)],
            args=[_generation_lifetime()],
        )
    except RedisError:
        # Entries of the old generation then live at most CACHE_TTL_SECONDS longer.
        log.error("catalog cache invalidation failed for %s", sorted(concert_ids), exc_info=True)


def catalog_changed(*, concert_ids: Iterable[int]) -> None:
    """Seats of these concerts changed: drop their cached reads once the transaction commits."""
    ids = {int(concert_id) for concert_id in concert_ids}
    if ids:
        transaction.on_commit(lambda: _bump(ids))
