"""Benchmark plumbing: a bench database, the app server on it, and side-by-side measurements.

Figures are ratios to GET /api/health measured in the same run on the same server, because the
machines are shared and absolute times drift. Rounds interleave baseline and target.
"""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BENCH_DB = os.environ.get("BENCH_DATABASE_NAME", "concertbooking_bench")
BENCH_REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "6"))


def configure(*, database: str, redis_db: int) -> None:
    """Give one benchmark its own database and Redis db, so benchmarks never share state."""
    global BENCH_DB, BENCH_REDIS_DB
    BENCH_DB, BENCH_REDIS_DB = database, redis_db


# The benches admit their callers once and call for minutes without holding: idle slots would
# lapse under them (the load test's buyers hold within seconds and keep the default).
MEASURING = {"QUEUE_IDLE_SECONDS": "0"}


def setup_django(**extra: str) -> None:
    """Set Django up in this process on the bench database (for seeding and EXPLAIN)."""
    import django

    os.environ.update(bench_env(**MEASURING, **extra))
    sys.path.insert(0, str(ROOT))
    django.setup()


HEALTH = {"method": "GET", "path": "/api/health"}
# How much faster than its floor a one-off target may go before its specs run out (compare()).
FLOOR_HEADROOM = 1.25


def bench_env(**extra: str) -> dict[str, str]:
    """Environment of every bench process: production-like settings on the bench database."""
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{BENCH_REDIS_DB}",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-never-for-production-padded-to-length",
        # Load tests top up through the sandbox gateway, which DEBUG off refuses unless allowed.
        "PAYMENT_GATEWAY_SANDBOX_ALLOWED": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "concertbooking.settings",
        # Every request comes from this one address: per-address limits would measure themselves.
        "RATE_LIMITS_ENABLED": "0",
    }
    env.update(extra)
    return env


def prepare_database(*, fresh: bool = False) -> None:
    """Create (or recreate) the bench database and migrate it."""
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{BENCH_DB}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    manage("migrate", "--noinput", "-v0")


def make_client_flush() -> None:
    """Empty the bench Redis db (queue, cache and broker) before a run."""
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=BENCH_REDIS_DB).flushdb()


def manage(*args: str, **env: str) -> str:
    """Run a manage.py command on the bench database and return its output."""
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=bench_env(**env),
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def django_script(code: str, **env: str) -> str:
    """Run Python code with Django set up on the bench database (for seeding); returns stdout."""
    return manage("shell", "-c", code, **env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The app server as `make serve` runs it (gunicorn.conf.py), bound and sized by PORT and
# WEB_CONCURRENCY, without worker recycling (`max_requests`): a run sends some 50,000 requests,
# and a worker restarting mid-round stalls whichever target is measured.
SERVER = [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--max-requests", "0"]
SERVER += ["concertbooking.wsgi:application"]


@contextmanager
def server(
    *, workers: int = 2, port: int | None = None, command: list[str] | None = None, **env: str
):
    """The app server on the bench database; yields the port. `command` (another server and
    its options, without the app) replaces the shipped one, to compare servers."""
    port = port or free_port()
    # A file, not a pipe: nobody reads the log during a run, and a full pipe (a warning per 4xx
    # response fills one in a few hundred requests) would block every worker on its next write.
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [*command, "concertbooking.wsgi:application"] if command else SERVER,
            cwd=ROOT,
            env=bench_env(PORT=str(port), WEB_CONCURRENCY=str(workers), **MEASURING, **env),
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )

        def failed(why: str) -> RuntimeError:
            log.seek(0)
            return RuntimeError(f"the app server {why}: {log.read()[-4000:]}")

        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise failed("did not start") from None
                    time.sleep(0.2)
            if process.poll() is not None:  # the port answered, but not for us
                raise failed("exited at start")
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def load(
    port: int,
    specs: Iterable[dict],
    *,
    concurrency: int = 16,
    duration: float = 5.0,
    once: bool = False,
    max_requests: int = 1_000_000,
) -> dict:
    """Drive the server with `specs` from a separate process; returns the loadgen's JSON."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
        for spec in specs:
            fh.write(json.dumps(spec) + "\n")
        path = fh.name
    try:
        out = subprocess.run(
            [
                PYTHON,
                str(ROOT / "bench" / "loadgen.py"),
                "--port",
                str(port),
                "--specs",
                path,
                "--concurrency",
                str(concurrency),
                "--duration",
                str(duration),
                "--max-requests",
                str(max_requests),
                *(["--once"] if once else []),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=duration + 120,
        ).stdout
    finally:
        os.unlink(path)
    return json.loads(out)


def warmed(port: int, specs: list[dict], *, concurrency: int = 16) -> None:
    """Send `specs` once each, untimed, and fail unless every one answered 200."""
    if not specs:
        return
    run = load(port, specs, concurrency=concurrency, duration=120.0, once=True)
    if run["statuses"] != {"200": len(specs)}:
        raise RuntimeError(f"warming up: {run['statuses']} for {len(specs)} requests")


def compare(
    port: int,
    targets: dict[str, list[dict] | callable],
    *,
    rounds: int = 3,
    duration: float = 4.0,
    concurrency: int = 16,
    once: set[str] = frozenset(),
    floors: dict[str, str] | None = None,
    warm_up: Callable[[list[dict]], list[dict]] | None = None,
) -> dict[str, dict]:
    """Each target right after its own baseline measurement, for `rounds` rounds.

    A target's ratio is the median over rounds of (target rps / the baseline measured just before
    it): the machine's speed drifts over a run (other tenants), and a baseline taken a minute
    earlier, before a dozen other targets, would carry that drift into the ratio.

    `floors` names a target's floor ({target: floor}, the floor itself a target): a floor is
    measured right after the baseline and its targets right after it, and a target's floor ratio
    is the median over rounds of (target rps / its floor's rps in that round).

    A target given as a callable is called once per round for fresh specs (state-changing
    requests such as holds cannot be replayed); one with a floor is asked for no more than
    FLOOR_HEADROOM times what its floor answered in the same time (`limit`), so a round prepares
    about what it uses. A target faster than that runs out early; its rate stays what it
    answered per second. `warm_up`, if given, gives requests to send right before a target's
    own (untimed; each must answer 200), from the specs about to be sent.
    """
    floors = floors or {}
    groups: dict[str, list[str]] = {}
    for name in targets:
        if name not in floors.values():
            floor = floors.get(name)
            groups.setdefault(floor or name, [floor] if floor else []).append(name)
    order = [name for group in groups.values() for name in group]
    results: dict[str, list[dict]] = {"health": [], **{name: [] for name in order}}
    ratios: dict[str, list[float]] = {name: [] for name in order}
    floor_ratios: dict[str, list[float]] = {name: [] for name in floors}
    for _ in range(rounds):
        for group in groups.values():
            baseline = load(port, [HEALTH], duration=duration, concurrency=concurrency)
            results["health"].append(baseline)
            rps = {}
            for name in group:
                specs = targets[name]
                if not callable(specs):
                    batch = specs
                elif name in floors:
                    floor_answered = duration * rps[floors[name]]
                    batch = specs(max(100, math.ceil(FLOOR_HEADROOM * floor_answered)))
                else:
                    batch = specs()
                if warm_up is not None:
                    warmed(port, warm_up(batch), concurrency=concurrency)
                run = load(
                    port, batch, duration=duration, concurrency=concurrency, once=name in once
                )
                results[name].append(run)
                rps[name] = run["rps"]
                if baseline["rps"]:
                    ratios[name].append(run["rps"] / baseline["rps"])
                if name in floors and rps[floors[name]]:
                    floor_ratios[name].append(run["rps"] / rps[floors[name]])
    summary = {}
    for name, runs in results.items():
        paired = [1.0] if name == "health" else ratios[name]
        summary[name] = {
            "rps": statistics.median(r["rps"] for r in runs),
            "ratio": round(statistics.median(paired), 3) if paired else None,
            "ratio_range": (round(min(paired), 3), round(max(paired), 3)) if paired else None,
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "statuses": runs[-1]["statuses"],
        }
        if floor_ratios.get(name):
            summary[name]["floor_ratio"] = round(statistics.median(floor_ratios[name]), 3)
    return summary


def measure(
    targets: dict[str, list[dict] | callable],
    *,
    workers: int = 2,
    rounds: int = 3,
    duration: float = 4.0,
    concurrency: int = 16,
    once: set[str] = frozenset(),
    floors: dict[str, str] | None = None,
    warm_up: Callable[[list[dict]], list[dict]] | None = None,
    **env: str,
) -> dict[str, dict]:
    """compare() on an app server of its own, started for this measurement."""
    with server(workers=workers, **env) as port:
        return compare(
            port,
            targets,
            rounds=rounds,
            duration=duration,
            concurrency=concurrency,
            once=once,
            floors=floors,
            warm_up=warm_up,
        )


def goals_missed(
    summary: dict[str, dict],
    goals: dict[str, float],
    floor_goals: dict[str, float] | None = None,
) -> list[str]:
    """The goals a summary misses, one line each: minimum ratios to health, then to floors."""
    missed = [f"{name}: health" for name, goal in goals.items() if summary[name]["ratio"] < goal]
    for name, goal in (floor_goals or {}).items():
        if summary[name].get("floor_ratio", 0.0) < goal:
            missed.append(f"{name}: floor")
    return missed


def print_table(
    title: str,
    summary: dict[str, dict],
    goals: dict[str, float] | None = None,
    floor_goals: dict[str, float] | None = None,
) -> None:
    """The summary as a table: the median ratio to health and its range over the rounds, then
    (when measured) the median ratio to the row's floor; with `goals` and `floor_goals`
    (minimum ratios per endpoint), whether each median is met."""
    goals, floor_goals = goals or {}, floor_goals or {}
    with_floors = any("floor_ratio" in row for row in summary.values())

    def verdict(table: dict[str, float], name: str, ratio: float | None) -> str:
        if not table:
            return ""
        goal = table.get(name)
        if goal is None or ratio is None:
            return f"{'':>6}{'':>5}"
        return f"{goal:>6.2f}{'yes' if ratio >= goal else 'NO':>5}"

    goal_head = f"{'goal':>6}{'met':>5}" if goals else ""
    floor_goal_head = f"{'goal':>6}{'met':>5}" if floor_goals else ""
    floor_head = f"{'/floor':>8}{floor_goal_head}" if with_floors else ""
    print(f"\n{title}")
    print(
        f"{'endpoint':<30}{'req/s':>9}{'/health':>8}{'range':>11}{goal_head}{floor_head}"
        f"{'p50 ms':>8}{'p99 ms':>8}  statuses"
    )
    for name, row in summary.items():
        low, high = row.get("ratio_range") or (row["ratio"], row["ratio"])
        floor_cells = ""
        if with_floors:
            floor_ratio = row.get("floor_ratio")
            shown = f"{floor_ratio:>8.2f}" if floor_ratio is not None else f"{'-':>8}"
            floor_cells = shown + verdict(floor_goals, name, floor_ratio)
        print(
            f"{name:<30}{row['rps']:>9.1f}{row['ratio']:>8.2f}{f'{low:.2f}-{high:.2f}':>11}"
            f"{verdict(goals, name, row['ratio'])}{floor_cells}"
            f"{row['p50_ms']:>8.1f}{row['p99_ms']:>8.1f}  {row['statuses']}"
        )


# --- Fixtures in the bench database (call setup_django() first) --------------------------------


def users(prefix: str, count: int) -> list[int]:
    """`count` new users with contiguous ids (pgbench computes ids by arithmetic)."""
    from django.contrib.auth import get_user_model

    from accounts.services import users_seed

    users_seed(count=count, password="bench-pass", prefix=prefix)
    by_name = dict(
        get_user_model().objects.filter(username__startswith=prefix).values_list("username", "id")
    )
    ids = [by_name[f"{prefix}{i}"] for i in range(1, count + 1)]
    assert ids == list(range(ids[0], ids[0] + count)), "user ids must be contiguous"
    return ids


def api_keys(user_ids: list[int]) -> dict[int, str]:
    """An API token key for each user: {user id: key}."""
    from django.contrib.auth import get_user_model

    from accounts.services import api_tokens_issue

    names = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("username", "id"))
    return {names[name]: key for name, key in api_tokens_issue(usernames=list(names)).items()}


def browser_sessions(user_ids: list[int], data: dict[int, dict] | None = None) -> dict[int, str]:
    """A signed-in browser's cookies for each user, as the sign-in page leaves them (the
    project's session engine and authentication backend, a CSRF cookie from the page's forms),
    with `data[user id]` added to the session: {user id: Cookie header}."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.utils.crypto import get_random_string

    store = import_module(settings.SESSION_ENGINE).SessionStore
    data = data or {}
    cookies = {}
    for user in get_user_model().objects.filter(pk__in=user_ids):
        session = store()
        session[SESSION_KEY] = str(user.pk)
        # The backend that signs people in; the lockout's, listed first, only refuses.
        session[BACKEND_SESSION_KEY] = "accounts.backends.RememberingModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.update(data.get(user.pk, {}))
        session.create()
        # A CSRF secret as Django sets it (32 letters and digits), so it is kept as sent.
        cookies[user.pk] = (
            f"{settings.SESSION_COOKIE_NAME}={session.session_key}; "
            f"{settings.CSRF_COOKIE_NAME}={get_random_string(32)}"
        )
    return cookies


def admit_all(user_ids: list[int]) -> dict[int, str]:
    """Queue tokens for the users, all admitted at once through the real queue services (the
    site-wide room)."""
    from dataclasses import replace

    from queueing import services as queue_services
    from queueing.selectors import site_room

    tokens = {uid: queue_services.queue_token_issue(user_id=uid).token for uid in user_ids}
    queue_services.queue_promote(
        config=replace(site_room(), capacity=len(tokens), admit_per_tick=len(tokens))
    )
    return tokens


def bulk_holds(user_ids: list[int], seat_ids: list[int]) -> list[int]:
    """Live holds (one hour) for pairs of user and seat, in bulk; returns contiguous ids."""
    from datetime import timedelta

    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from booking.models import Reservation, Seat, SeatStatus

    until = timezone.now() + timedelta(hours=1)
    with transaction.atomic():
        Seat.objects.filter(pk__in=seat_ids).update(
            status=SeatStatus.HELD, held_until=until, version=F("version") + 1
        )
        prices = dict(Seat.objects.filter(pk__in=seat_ids).values_list("id", "price"))
        rows = Reservation.objects.bulk_create(
            [
                Reservation(user_id=u, seat_id=s, price=prices[s], expires_at=until)
                for u, s in zip(user_ids, seat_ids, strict=True)
            ],
            batch_size=5000,
        )
    ids = [row.pk for row in rows]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "reservation ids must be contiguous"
    return ids


QUEUE_FILL_BATCH = 10_000


def queue_fill(
    client, *, count: int, first_id: int, id_step: int = 1, room: str | None = None
) -> float:
    """`count` users waiting in `room` (the site-wide room by default), each given a place by
    the issue script itself, pipelined: what the store holds is what production stores. User
    ids run from `first_id`, `id_step` apart. Returns seconds."""
    from django.conf import settings

    from queueing import store
    from queueing.keys import room_keys
    from queueing.models import RoomMode

    room = room or settings.QUEUE_ROOM
    issue, keys = store.script("issue"), room_keys(room)
    room_list = keys.as_list()
    # The issue script's arguments after the user id and draw key: abandonment, sale start
    # (0: on sale, so the place takes the next arrival number), mode, session length, idle.
    abandon_ms, session_ms = (
        settings.QUEUE_ABANDON_SECONDS * 1000,
        settings.QUEUE_SESSION_SECONDS * 1000,
    )
    tail = [abandon_ms, 0, RoomMode.FIFO.value, session_ms, settings.QUEUE_IDLE_SECONDS * 1000]
    ids = range(first_id, first_id + count * id_step, id_step)
    started = time.perf_counter()
    for start in range(0, count, QUEUE_FILL_BATCH):
        pipe = client.pipeline(transaction=False)
        for user_id in ids[start : start + QUEUE_FILL_BATCH]:
            issue(keys=room_list, args=[user_id, 0, *tail], client=pipe)
        pipe.execute()
    return time.perf_counter() - started
