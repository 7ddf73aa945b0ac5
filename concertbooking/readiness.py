"""Readiness: can this process serve a sale right now? Each dependency is asked at once, in
parallel, and none may take much more than CHECK_TIMEOUT, so a hung server costs one second.
Probes close together share one set of checks (REUSE_SECONDS).
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

import redis
from django.conf import settings
from django.db.utils import load_backend

from concertbooking.heartbeat import heartbeat_age

# Every client below gives up after this long; the answer waits a little more, so that a check
# can still say why it failed rather than just that it was late.
CHECK_TIMEOUT = 1.0
ANSWER_DEADLINE = CHECK_TIMEOUT + 0.3


class CheckFailed(Exception):
    """A check's own verdict; its message is the whole reason."""


def _database() -> None:
    # A fresh connection with its own timeouts: a request's persistent one would wait for the
    # OS's TCP timeout on a server that never answers, and this also proves new connections work.
    settings_dict = copy.deepcopy(settings.DATABASES["default"])
    postgresql = settings_dict["ENGINE"] in (
        "django.db.backends.postgresql",
        "concertbooking.postgresql",
    )
    if postgresql:
        # psycopg waits at least 2 s whatever is asked, so a server that never answers is caught
        # by ANSWER_DEADLINE instead, reported as no answer rather than as its own error.
        settings_dict.setdefault("OPTIONS", {})["connect_timeout"] = max(1, round(CHECK_TIMEOUT))
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "readiness")
    try:
        with wrapper.cursor() as cursor:
            if postgresql:
                # Not a startup parameter, which PgBouncer refuses; and LOCAL, since in its
                # transaction mode a session SET would stay on a server connection others get.
                cursor.execute("BEGIN")
                cursor.execute(f"SET LOCAL statement_timeout = {int(CHECK_TIMEOUT * 1000)}")
            cursor.execute("SELECT 1")
            cursor.fetchone()
            if postgresql:
                cursor.execute("COMMIT")
    finally:
        wrapper.close()


def redis_answers(client: redis.Redis | redis.RedisCluster) -> None:
    """PING. On a Redis Cluster one primary answering is enough: a master that is away stops
    only its own rooms (they answer 503, /metrics names them), and failing readiness on every
    app server for it would stop all the others too."""
    if not isinstance(client, redis.RedisCluster):
        client.ping()
        return
    failures = []
    for node in client.get_primaries():
        try:
            if node.redis_connection is None:
                raise redis.ConnectionError("no connection")
            # The node's own client: one try, its socket timeout, none of the cluster's retries.
            node.redis_connection.ping()
            return
        except redis.RedisError as exc:
            failures.append(f"{node.name} {_reason(exc)}")
    raise CheckFailed("no primary answers: " + "; ".join(failures))


def _queue_redis() -> None:
    from concertbooking.redis import queue_redis

    redis_answers(queue_redis())


def _cache() -> None:
    # The cache's own client swallows errors (IGNORE_EXCEPTIONS): ask its raw connection.
    from django_redis import get_redis_connection

    get_redis_connection("default").ping()


def _broker() -> None:
    from concertbooking.celery import app

    # One try, no back-off: the Redis transport talks to the server as it connects.
    with app.connection_for_write(
        connect_timeout=CHECK_TIMEOUT,
        transport_options={
            "socket_timeout": CHECK_TIMEOUT,
            "socket_connect_timeout": CHECK_TIMEOUT,
            "max_retries": 0,
        },
    ) as connection:
        connection.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT
        )


def _beat() -> None:
    age = heartbeat_age()
    if age is None:
        raise CheckFailed("no promotion tick has been seen")
    if age > settings.BEAT_HEARTBEAT_MAX_SECONDS:
        raise CheckFailed(f"the last promotion tick was {age:.0f} s ago")


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "queue_redis": _queue_redis,
    "cache": _cache,
    "broker": _broker,
    "beat": _beat,
}

# An outcome younger than this answers every probe: /api/ready is public, and a flood of
# probes must cost each process one set of checks (one database connection) a second at most.
REUSE_SECONDS = 1.0


class _Flight:
    """One set of checks under way; probes that arrive meanwhile wait for its outcome."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.outcome: dict[str, str] | None = None


# This process's state, all under _lock; a forked child starts afresh (threads do not follow).
_lock = threading.Lock()
_pid = 0
_pool: ThreadPoolExecutor | None = None
_running: dict[str, Future] = {}
_flight: _Flight | None = None
_last: tuple[float, dict[str, str]] | None = None


def _this_process() -> None:
    """Forget a parent's state after a fork; call with _lock held."""
    global _pid
    if _pid != os.getpid():
        _pid = os.getpid()
        _forget()


def _forget() -> None:
    global _pool, _running, _flight, _last
    _pool, _running, _flight, _last = None, {}, None, None


def readiness_forget() -> None:
    """Drop the last outcome and the checks in flight: the next probe checks afresh, on threads
    of its own (checks still hanging finish on the old ones)."""
    with _lock:
        _forget()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, CheckFailed):
        return text
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


def _checks_run() -> dict[str, str]:
    global _pool
    with _lock:
        if _pool is None:
            # One thread per check is enough: a check still running is never started twice.
            _pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="ready")
        futures = {}
        for name, check in CHECKS.items():
            earlier = _running.get(name)
            # A check still hanging since an earlier set is waited for again, so a server that
            # never answers holds one thread and one connection, not one per probe.
            if earlier is None or earlier.done():
                earlier = _running[name] = _pool.submit(check)
            futures[name] = earlier
    wait(futures.values(), timeout=ANSWER_DEADLINE)
    outcome = {}
    for name, future in futures.items():
        if not future.done():
            future.cancel()
            outcome[name] = f"no answer within {ANSWER_DEADLINE:g} s"
        elif future.exception() is not None:
            outcome[name] = _reason(future.exception())
        else:
            outcome[name] = "ok"
    return outcome


def readiness() -> dict[str, str]:
    """Each check's outcome: "ok", or why it failed (a timeout included). Shared by the probes
    of this process within REUSE_SECONDS, and by those that arrive while the checks run."""
    global _flight, _last
    with _lock:
        _this_process()
        if _last is not None and time.monotonic() - _last[0] < REUSE_SECONDS:
            return dict(_last[1])
        flight = _flight
        leading = flight is None
        if flight is None:
            flight = _flight = _Flight()
    if not leading:
        flight.done.wait()
        if flight.outcome is None:  # the checks could not run; the leading probe has the error
            return dict.fromkeys(CHECKS, f"no answer within {ANSWER_DEADLINE:g} s")
        return dict(flight.outcome)
    try:
        flight.outcome = _checks_run()
    finally:
        with _lock:
            if _flight is flight:
                _flight = None
                if flight.outcome is not None:
                    _last = (time.monotonic(), flight.outcome)
        flight.done.set()
    return dict(flight.outcome)
