"""The queue's Redis store: each state change is one Lua script, one atomic round trip."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis
from redis.commands.core import Script

from concertbooking.redis import queue_redis
from queueing.errors import QueueUnavailable
from queueing.keys import queue_keys

_LUA = Path(__file__).resolve().parent / "lua"
_COMMON = (_LUA / "common.lua").read_text()

# Connection trouble, or a replica that cannot take writes mid-failover: the store is away for
# now. Anything else (a script error) is a bug and must stay loud.
UNAVAILABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.MasterDownError,
    redis.exceptions.OutOfMemoryError,
)

_scripts: dict[str, Script] = {}


def script(name: str) -> Script:
    """The registered script `name` (queueing/lua/<name>.lua with the shared prelude)."""
    registered = _scripts.get(name)
    if registered is None:
        # Registering only hashes the source; the server learns it on first use (EVALSHA, then
        # SCRIPT LOAD once if it answers NOSCRIPT, e.g. after a restart).
        registered = _scripts[name] = queue_redis().register_script(
            _COMMON + "\n" + (_LUA / f"{name}.lua").read_text()
        )
    return registered


def _run(name: str, *args: str | int) -> list | int:
    try:
        return script(name)(keys=queue_keys().as_list(), args=args, client=queue_redis())
    except UNAVAILABLE as exc:
        raise QueueUnavailable() from exc


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class TokenState:
    token: str
    status: str  # "waiting" | "active"
    position: int | None  # 1 = next to be admitted; None once active
    expires_ms: int  # active: end of the session; waiting: when an unpolled place is lost
    rate: float  # admissions per second over the last minute (0 when unknown)
    created: bool = False


@dataclass(frozen=True)
class PromoteResult:
    admitted: list[int]
    expired: int
    abandoned: int


@dataclass(frozen=True)
class RoomStats:
    waiting: int
    active: int
    rate: float
    head_wait_ms: int | None
    admitted_total: int


def issue(*, user_id: int, fresh_token: str, abandon_ms: int) -> TokenState:
    created, token, status, position, expires, rate = _run(
        "issue", user_id, fresh_token, abandon_ms
    )
    return TokenState(
        token=_str(token),
        status=_str(status),
        position=position,
        expires_ms=expires,
        rate=float(rate),
        created=bool(created),
    )


def status(*, token: str, user_id: int, abandon_ms: int) -> TokenState | None:
    """The token's state; None when it is not the user's live token."""
    reply = _run("status", token, user_id, abandon_ms)
    if _str(reply[0]) == "invalid":
        return None
    state, position, expires, rate = reply
    return TokenState(
        token=token, status=_str(state), position=position, expires_ms=expires, rate=float(rate)
    )


GATE_INVALID, GATE_ACTIVE, GATE_WAITING = 0, 1, 2


def gate(*, token: str, user_id: int) -> tuple[int, int | None]:
    """(GATE_* verdict, position when waiting)."""
    reply = _run("gate", token, user_id)
    return reply[0], (reply[1] if len(reply) > 1 else None)


def release(*, user_id: int, token: str = "", only_active: bool = False) -> bool:
    return _run("release", user_id, token, "1" if only_active else "0") == 1


def promote(
    *,
    capacity: int,
    admit_per_tick: int,
    session_ms: int,
    abandon_ms: int,
    paused: bool,
    sweep_limit: int = 5000,
) -> PromoteResult:
    _, expired, abandoned, ids = _run(
        "promote",
        capacity,
        admit_per_tick,
        session_ms,
        abandon_ms,
        "1" if paused else "0",
        sweep_limit,
    )
    return PromoteResult(admitted=[int(i) for i in ids], expired=expired, abandoned=abandoned)


def stats() -> RoomStats:
    waiting, active, rate, head_wait, total = _run("stats")
    return RoomStats(
        waiting=waiting,
        active=active,
        rate=float(rate),
        head_wait_ms=None if head_wait < 0 else head_wait,
        admitted_total=total,
    )
