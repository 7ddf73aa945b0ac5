"""The rooms' Redis store: each state change is one Lua script, one atomic round trip."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import NoScriptError, RedisClusterException

from concertbooking.redis import queue_redis
from queueing.errors import QueueUnavailable
from queueing.keys import FIFO_BASE, HISTORY_MINUTES, POLL_BUCKET, POLL_MS, room_keys

_LUA = Path(__file__).resolve().parent / "lua"
_PRELUDE = (
    f"local POLL_BUCKET, FIFO_BASE, POLL_MS = {POLL_BUCKET}, {FIFO_BASE}, {POLL_MS}\n"
    f"local HISTORY_MINUTES = {HISTORY_MINUTES}\n" + (_LUA / "common.lua").read_text()
)
# The draw stays published this long after the start.
DRAW_KEPT_MS = 7 * 24 * 3600 * 1000

# Connection trouble, a replica that cannot take writes mid-failover, or a Redis Cluster whose
# master for the room is down, failing over or moving the room's slot: the store is away for
# now. Anything else (a script error, keys of two slots in one call) is a bug and stays loud.
UNAVAILABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.MasterDownError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ClusterError,
    redis.exceptions.TryAgainError,
    redis.exceptions.AskError,
    redis.exceptions.SlotNotCoveredError,
)


# Nodes that hang: node name -> when its hold ends (time.monotonic()). Per process, shared by
# its threads; a plain Redis or a Sentinel master is the one node "".
_held: dict[str, float] = {}
_held_lock = threading.Lock()


def _node(client: redis.Redis | RedisCluster, key: str) -> str:
    """The name of the node that serves `key`, from the client's slot map (no round trip)."""
    return client.get_node_from_key(key).name if isinstance(client, RedisCluster) else ""


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, redis.TimeoutError) or isinstance(exc.__cause__, redis.TimeoutError)


def _admit(node: str, until: float) -> None:
    """Refuse a call for a held node at once; past the hold, let exactly one caller through to
    try the node again while the others keep being refused."""
    now = time.monotonic()
    if now < until:
        raise QueueUnavailable()
    with _held_lock:
        if _held.get(node) != until:  # another caller took the retry, or it succeeded already
            if node in _held:
                raise QueueUnavailable()
            return
        _held[node] = now + settings.QUEUE_NODE_HOLD_SECONDS


def nodes_held_forget() -> None:
    """Forget every node held down, as a new process would start."""
    _held.clear()


@contextmanager
def _reaching(key: str) -> Iterator[redis.Redis | RedisCluster]:
    """The queue's client for a call on `key`'s node; the store being away becomes
    QueueUnavailable (503).

    A node that timed out (it hangs: a socket timeout per call, holding a web thread or the
    tick) is held down for QUEUE_NODE_HOLD_SECONDS: calls for its keys are refused without
    touching the network, then one call tries it again and its answer ends the hold. A refused
    or reset connection does not trip it: that fails in milliseconds anyway, and the next call
    must find a restarted server or a promoted replica at once.
    """
    node = ""
    retrying = timed_out = False
    try:
        client = queue_redis()
        node = _node(client, key)
        until = _held.get(node)
        if until is not None:
            _admit(node, until)
            retrying = True
        yield client
    except UNAVAILABLE as exc:
        timed_out = _timed_out(exc)
        raise QueueUnavailable() from exc
    except RedisClusterException as exc:
        # A cluster client that reaches no node at all says so with this, caused by the
        # connection error; the same class also reports programming errors, kept loud.
        if isinstance(exc.__cause__, UNAVAILABLE):
            timed_out = _timed_out(exc)
            raise QueueUnavailable() from exc
        raise
    finally:
        if timed_out and settings.QUEUE_NODE_HOLD_SECONDS > 0:
            _held[node] = time.monotonic() + settings.QUEUE_NODE_HOLD_SECONDS
        elif retrying:
            _held.pop(node, None)  # it answered (or refused at once): no longer hanging


_scripts: dict[str, Script] = {}


def script(name: str) -> Script:
    """The registered script `name` (queueing/lua/<name>.lua with the shared prelude)."""
    registered = _scripts.get(name)
    if registered is None:
        # Registering only hashes the source; the server learns it on first use (see _run).
        registered = _scripts[name] = queue_redis().register_script(
            _PRELUDE + "\n" + (_LUA / f"{name}.lua").read_text()
        )
    return registered


def _run(name: str, room: str, *args: str | int) -> list | int:
    keys = room_keys(room).as_list()
    with _reaching(keys[0]) as client:
        registered = script(name)
        try:
            return client.evalsha(registered.sha, len(keys), *keys, *args)
        except NoScriptError:
            # A server that never saw the script (new, restarted, failed over) learns it from
            # EVAL on the room's own node. SCRIPT LOAD would go to every Cluster master and
            # fail while any one of them is down.
            return client.eval(registered.script, len(keys), *keys, *args)


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class PlaceState:
    status: str  # "waiting" | "active"
    stamp: int
    position: int | None  # 1 = next to be admitted; None once active
    expires_ms: int  # active: end of the session; waiting: when an unpolled place is lost
    rate: float  # admissions per second over the last minute (0 when unknown)
    free_seats: int | None = None  # the concert's free seats; None when not counted
    active: int = 0
    created: bool = False


@dataclass(frozen=True)
class PromoteResult:
    admitted: list[int]
    expired: int
    abandoned: int
    sold_out: bool = False


@dataclass(frozen=True)
class RoomFigures:
    waiting: int
    prequeued: int
    active: int
    rate: float
    head_wait_ms: int | None
    admitted_total: int
    free_seats: int | None
    latest_waits_ms: list[int]
    drawn: int | None
    abandoned_total: int = 0  # places lost for not polling, since the room's keys began


def _place(reply: list) -> PlaceState:
    """A place as the issue and status scripts both answer it."""
    status, stamp, position, expires, rate, created, free, active = reply
    return PlaceState(
        status=_str(status),
        stamp=stamp,
        position=position or None,
        expires_ms=expires,
        rate=float(rate),
        free_seats=None if free < 0 else free,
        active=active,
        created=bool(created),
    )


def issue(
    *,
    room: str,
    user_id: int,
    draw_key: int,
    abandon_ms: int,
    starts_ms: int,
    mode: str,
    session_ms: int,
    idle_ms: int = 0,
) -> PlaceState | None:
    """The user's live place, or a new one; None when the room is closed to new places."""
    reply = _run("issue", room, user_id, draw_key, abandon_ms, starts_ms, mode, session_ms, idle_ms)
    return None if _str(reply[0]) == "closed" else _place(reply)


def status(
    *, room: str, user_id: int, stamp: int, abandon_ms: int, poll_burst: int = -1
) -> PlaceState | int | None:
    """The place's state; None when it is not the user's live place; the ms to wait when it
    polled too soon (more than `poll_burst` polls ahead of one per POLL_MS; below 0: no limit)."""
    reply = _run("status", room, user_id, stamp, abandon_ms, poll_burst)
    kind = _str(reply[0])
    if kind == "invalid":
        return None
    if kind == "limited":
        return reply[1]
    return _place(reply)


GATE_INVALID, GATE_ACTIVE, GATE_WAITING = 0, 1, 2


def gate(*, room: str, user_id: int, stamp: int, abandon_ms: int) -> tuple[int, int | None]:
    """(GATE_* verdict, position when waiting)."""
    reply = _run("gate", room, user_id, stamp, abandon_ms)
    return reply[0], (reply[1] if len(reply) > 1 else None)


def release(
    *, room: str, user_id: int, stamp: int | None = None, only_active: bool = False
) -> bool:
    return (
        _run(
            "release",
            room,
            user_id,
            "" if stamp is None else stamp,
            "1" if only_active else "0",
        )
        == 1
    )


def promote(
    *,
    room: str,
    capacity: int,
    admit_per_tick: int,
    session_ms: int,
    abandon_ms: int,
    admitting: bool,
    starts_ms: int = 0,
    passthrough: bool = False,
    sweep_limit: int = 5000,
    idle_ms: int = 0,
) -> PromoteResult:
    _, expired, abandoned, ids, sold_out = _run(
        "promote",
        room,
        capacity,
        admit_per_tick,
        session_ms,
        abandon_ms,
        "1" if admitting else "0",
        starts_ms,
        sweep_limit,
        "1" if passthrough else "0",
        DRAW_KEPT_MS,
        idle_ms,
    )
    return PromoteResult(
        admitted=[int(i) for i in ids],
        expired=expired,
        abandoned=abandoned,
        sold_out=bool(sold_out),
    )


def keep(*, room: str, user_id: int, held_until_ms: int, idle_ms: int) -> int:
    """Move an admitted user's slot deadline to `idle_ms` after their holds run out
    (`held_until_ms`, 0 for none: from now), never past the session's end; returns the new
    deadline (ms), 0 when the user has no live slot."""
    return _run("keep", room, user_id, held_until_ms, idle_ms)


def figures(*, room: str) -> RoomFigures:
    waiting, prequeued, active, rate, head_wait, total, free, waits, drawn, abandoned = _run(
        "stats", room
    )
    return RoomFigures(
        waiting=waiting,
        prequeued=prequeued,
        active=active,
        rate=float(rate),
        head_wait_ms=None if head_wait < 0 else head_wait,
        admitted_total=total,
        free_seats=None if free < 0 else free,
        latest_waits_ms=[int(w) for w in waits],
        drawn=None if drawn < 0 else drawn,
        abandoned_total=abandoned,
    )


@dataclass(frozen=True)
class MinuteFigures:
    minute: int  # minutes since the epoch
    waiting: int | None  # as the minute's last tick left it; None when no tick ran in it
    admitted: int


def history(*, room: str) -> list[MinuteFigures]:
    """The room's last HISTORY_MINUTES minutes, oldest first, the current one last."""
    current, flat = _run("history", room)
    fields = {_str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
    return [
        MinuteFigures(
            minute=minute,
            waiting=fields.get(f"w{minute}"),
            admitted=fields.get(f"a{minute}", 0),
        )
        for minute in range(current - HISTORY_MINUTES + 1, current + 1)
    ]


def free_seats_set(*, room: str, free: int, ttl_seconds: int) -> None:
    """Booking's latest count of the room's free seats; forgotten (unknown) after `ttl_seconds`,
    so a count nobody refreshes never keeps a room shut."""
    key = room_keys(room).free
    with _reaching(key) as client:
        client.set(key, free, ex=ttl_seconds)


REKEY_BATCH = 10_000


def waiting_rekey(*, room: str, key_of: Callable[[int], int]) -> int:
    """Score every waiting place of `room` by `key_of(user id)`; returns how many. Places that
    left meanwhile stay gone (ZADD XX)."""
    waiting = room_keys(room).waiting
    with _reaching(waiting) as client:
        user_ids = [int(uid) for uid in client.zrange(waiting, 0, -1)]
        for start in range(0, len(user_ids), REKEY_BATCH):
            batch = user_ids[start : start + REKEY_BATCH]
            client.zadd(waiting, {uid: key_of(uid) for uid in batch}, xx=True)
    return len(user_ids)


def draw_page(*, room: str, start: int, stop: int) -> list[int]:
    """User ids of the drawn pre-queue, in the draw's order, from `start` to `stop` inclusive."""
    draw = room_keys(room).draw
    with _reaching(draw) as client:
        return [int(uid) for uid in client.zrange(draw, start, stop)]
