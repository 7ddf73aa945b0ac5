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


# A queue script run for the user an API token's shared entry names (accounts.authentication:
# b"<user id>:<row>"), for a caller that has not authenticated its user yet: the entry is read
# in the script's own round trip. KEYS: the queue's, then the entry's. ARGV: the script's, with
# the user id left empty. Returns {entry} when no user is named (no entry, a tombstone, an entry
# written before the prefix), without running the script; else {entry, the script's reply}.
# The script (prelude included) becomes the body of run(), so it reads the ARGV given here.
_AS_ENTRY_USER = """
local entry = redis.call('GET', KEYS[#KEYS])
local entry_uid = entry and string.match(entry, '^(%%d+):')
if not entry_uid then
  return {entry}
end
local ARGV = {unpack(ARGV)}
ARGV[%d] = entry_uid
local function run()
%s
end
return {entry, run()}
"""
# Where each script that acts for a user takes the user id.
_USER_ARG = {"issue": 1, "status": 2, "gate": 2}


def script_as_entry_user(name: str) -> Script:
    """Queue script `name`, run for the user an API token's shared entry names (_AS_ENTRY_USER)."""
    variant = f"{name}:as-entry-user"
    registered = _scripts.get(variant)
    if registered is None:
        registered = _scripts[variant] = queue_redis().register_script(
            _AS_ENTRY_USER % (_USER_ARG[name], script(name).script)
        )
    return registered


def _run(name: str, *args: str | int) -> list | int:
    try:
        return script(name)(keys=queue_keys().as_list(), args=args, client=queue_redis())
    except UNAVAILABLE as exc:
        raise QueueUnavailable() from exc


def run_for_user(name: str, user_id: int, *args: str | int) -> list:
    """Queue script `name` for `user_id`, its arguments given as to run_as_entry_user (the user id
    left empty), so one argument list serves both forms."""
    filled = list(args)
    filled[_USER_ARG[name] - 1] = user_id
    return _run(name, *filled)


def send_in(pipe, name: str, *args: str | int) -> None:
    """Queue script `name` as one command of a caller's pipeline on the queue's Redis, for a
    caller with more to send in the same round trip. Its reply comes back with the pipeline's:
    a value, or the error (NoScriptError when the server lost the script, e.g. after a restart;
    calling the script on its own then teaches it again)."""
    keys = queue_keys().as_list()
    pipe.evalsha(script(name).sha, len(keys), *keys, *args)


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
    return issue_state(_run("issue", user_id, fresh_token, abandon_ms))


def issue_state(reply: list) -> TokenState:
    """The issue script's reply as a TokenState."""
    created, token, status, position, expires, rate = reply
    return TokenState(
        token=_str(token),
        status=_str(status),
        position=position,
        expires_ms=expires,
        rate=float(rate),
        created=bool(created),
    )


def status(*, token: str, user_id: int, abandon_ms: int) -> TokenState | None:
    return status_state(token, _run("status", token, user_id, abandon_ms))


def status_state(token: str, reply: list) -> TokenState | None:
    """The status script's reply as a TokenState; None when the token is not the user's."""
    if _str(reply[0]) == "invalid":
        return None
    state, position, expires, rate = reply
    return TokenState(
        token=token, status=_str(state), position=position, expires_ms=expires, rate=float(rate)
    )


def run_as_entry_user(name: str, entry_key: str, *args: str | int) -> tuple[bytes | None, list]:
    """Queue script `name` (its user id argument left empty) run for the user the API token entry
    at `entry_key` names: (the entry as read, [the script's reply] or [] when no user was named).
    Raises QueueUnavailable when the store is away."""
    try:
        reply = script_as_entry_user(name)(
            keys=[*queue_keys().as_list(), entry_key], args=args, client=queue_redis()
        )
    except UNAVAILABLE as exc:
        raise QueueUnavailable() from exc
    return reply[0], reply[1:]


GATE_INVALID, GATE_ACTIVE, GATE_WAITING = 0, 1, 2


def gate(*, token: str, user_id: int) -> tuple[int, int | None]:
    """(GATE_* verdict, position when waiting)."""
    return gate_verdict(_run("gate", token, user_id))


def gate_verdict(reply: list) -> tuple[int, int | None]:
    """The gate script's reply as (GATE_* verdict, position when waiting)."""
    return reply[0], (reply[1] if len(reply) > 1 else None)


def _release_args(user_id: int, token: str, only_active: bool) -> tuple:
    return user_id, token, "1" if only_active else "0"


def release(*, user_id: int, token: str = "", only_active: bool = False) -> bool:
    return _run("release", *_release_args(user_id, token, only_active)) == 1


def release_in(pipe, *, user_id: int, token: str = "", only_active: bool = False) -> None:
    """`release` as one command of a caller's pipeline (see send_in); replies 1 or 0."""
    send_in(pipe, "release", *_release_args(user_id, token, only_active))


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
