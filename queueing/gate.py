"""The gate's check, and a way for an API read to make it in the read's own Redis round trip.

Every gated request is checked against the queue in Redis. An API GET behind the gate also reads
Redis itself (the catalog cache), so when the queue and the cache share one Redis server the
middleware defers its check: the read sends the gate script and its own script in one pipeline.
The middleware still has the last word: if the read never made the check (another code path, the
cache turned off), it checks after the view and, if the user may not pass, answers with the
refusal instead of the view's response. A GET changes nothing, so nothing is lost by running it
first. Requests that write are always checked before the view.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from concertbooking.errors import ApplicationError
from concertbooking.redis import queue_redis
from queueing import store
from queueing.errors import QueueNotAdmitted, QueueTokenInvalid, QueueUnavailable


class GateCheckFailed(RuntimeError):
    """The gate script answered with an error inside a read's pipeline: no verdict."""


@dataclass
class PendingCheck:
    """One request's deferred gate check; `done` once its verdict is known."""

    token: str
    user_id: int
    done: bool = False
    refusal: ApplicationError | None = None


_pending: ContextVar[PendingCheck | None] = ContextVar("queue_gate_pending", default=None)


def refusal_for(verdict: int, position: int | None) -> ApplicationError | None:
    """None when the gate script's verdict lets the request through, else the refusal."""
    if verdict == store.GATE_ACTIVE:
        return None
    if verdict == store.GATE_WAITING:
        return QueueNotAdmitted(position=position)
    return QueueTokenInvalid()


def check(*, token: str, user_id: int) -> ApplicationError | None:
    """The gate's check in its own round trip."""
    try:
        return refusal_for(*store.gate(token=token, user_id=user_id))
    except ApplicationError as exc:  # the store is away: nobody passes by accident
        return exc


def can_share_round_trips() -> bool:
    """The queue and the cache live on one Redis server (the default), so one pipeline reaches
    both. Separate servers keep separate round trips."""
    return settings.QUEUE_REDIS_URL == settings.REDIS_URL


@contextmanager
def deferred(*, token: str, user_id: int) -> Iterator[PendingCheck]:
    """Within the block, a read may make this request's gate check (see `run_with_check`)."""
    pending = PendingCheck(token=token, user_id=user_id)
    reset = _pending.set(pending)
    try:
        yield pending
    finally:
        _pending.reset(reset)


def pending_check() -> PendingCheck | None:
    """This request's gate check, if it is deferred and not made yet."""
    pending = _pending.get()
    return pending if pending is not None and not pending.done else None


def run_with_check(pending: PendingCheck, script: Script, keys: Sequence, args: Sequence):
    """Make the pending gate check and run `script` in one pipeline; `script`'s reply.

    Raises the refusal when the user may not pass (the read stops there, and the middleware
    answers with it); a Redis failure refuses with QueueUnavailable, as the gate alone would.
    """
    gate_script = store.script("gate")
    client = queue_redis()
    try:
        for attempt in range(2):
            pipe = client.pipeline(transaction=False)
            store.send_in(pipe, "gate", pending.token, pending.user_id)
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            gate_reply, reply = pipe.execute(raise_on_error=False)
            if attempt == 0 and NoScriptError in (type(gate_reply), type(reply)):
                # The server forgot its scripts (a restart): teach it both, then once more.
                client.script_load(gate_script.script)
                client.script_load(script.script)
                continue
            break
    except store.UNAVAILABLE as exc:
        gate_reply = QueueUnavailable()
        gate_reply.__cause__ = exc
    # In a pipeline an error *reply* comes back as a value, not raised: a server that cannot
    # answer (failover, read-only replica, out of memory) refuses like a lost connection.
    if isinstance(gate_reply, store.UNAVAILABLE):
        gate_reply, cause = QueueUnavailable(), gate_reply
        gate_reply.__cause__ = cause
    if isinstance(gate_reply, ApplicationError):
        pending.refusal = gate_reply
    elif isinstance(gate_reply, Exception):
        # No verdict. Never a RedisError here: the cache would take it for its own failure and
        # answer from the database. The check stays pending, so the middleware makes it itself
        # (and fails closed, as the gate alone always did).
        raise GateCheckFailed("the queue gate script failed") from gate_reply
    else:
        pending.refusal = refusal_for(*store.gate_verdict(gate_reply))
    pending.done = True
    if pending.refusal is not None:
        raise pending.refusal
    if isinstance(reply, Exception):
        raise reply
    return reply
