"""Waiting queue: token issue and status throughput as ratios to GET /api/health on the same
gunicorn server, and Redis memory per waiting user with a million waiting."""

import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

SERVER_REDIS_DB = 9
MEMORY_REDIS_DB = 10  # its own db, emptied before and after
MILLION = 1_000_000
AHEAD = 100_000  # waiting in front of the measured users, so positions are six digits deep
ISSUE_USERS = 40_000  # every issue request is a new user (201); three rounds use them up slowly
STATUS_USERS = 2_000
BATCH = 10_000
FAKE_IDS = 10_000_000  # queue-only user ids for the filler, far from real ones


def fill(client, *, count: int, first_id: int) -> float:
    """`count` waiting users through the issue script itself, pipelined; returns seconds."""
    from queueing import store
    from queueing.keys import queue_keys
    from queueing.selectors import queue_config
    from queueing.services import TOKEN_BYTES

    issue, keys = store.script("issue"), queue_keys().as_list()
    abandon_ms = queue_config().abandon_seconds * 1000
    started = time.perf_counter()
    for start in range(first_id, first_id + count, BATCH):
        pipe = client.pipeline(transaction=False)
        for user_id in range(start, min(start + BATCH, first_id + count)):
            issue(
                keys=keys,
                args=[user_id, secrets.token_urlsafe(TOKEN_BYTES), abandon_ms],
                client=pipe,
            )
        pipe.execute()
    return time.perf_counter() - started


def memory_per_waiting_user() -> dict:
    import redis

    from queueing.keys import queue_keys

    client = redis.Redis(host="127.0.0.1", port=6379, db=MEMORY_REDIS_DB)
    client.flushdb()
    before = client.info("memory")["used_memory"]
    seconds = fill(client, count=MILLION, first_id=FAKE_IDS)
    after = client.info("memory")["used_memory"]
    keys = queue_keys()
    per_key = {
        name: client.memory_usage(getattr(keys, name), samples=0)
        for name in ("waiting", "polled", "tokens", "users")
    }
    assert client.zcard(keys.waiting) == MILLION
    client.flushdb()
    return {
        "fill_seconds": seconds,
        "info_delta_per_user": (after - before) / MILLION,
        "keys_per_user": sum(per_key.values()) / MILLION,
        "per_key": {name: size / MILLION for name, size in per_key.items()},
    }


def main() -> None:
    harness.configure(database="cb_bench_queue", redis_db=SERVER_REDIS_DB)
    harness.prepare_database(fresh=True)
    harness.make_client_flush()
    harness.setup_django()
    from accounts.services import api_tokens_issue, users_seed
    from concertbooking.redis import queue_redis
    from queueing.services import queue_token_issue

    memory = memory_per_waiting_user()
    print(
        f"1,000,000 waiting: {memory['keys_per_user']:.0f} B/user by MEMORY USAGE, "
        f"{memory['info_delta_per_user']:.0f} B/user by INFO used_memory; "
        f"filled in {memory['fill_seconds']:.1f} s "
        f"({MILLION / memory['fill_seconds']:,.0f} issue scripts/s pipelined)"
    )
    for name, size in memory["per_key"].items():
        print(f"  {name:<8} {size:6.1f} B/user")

    count = ISSUE_USERS + STATUS_USERS
    users_seed(count=count, password="bench-queue-pass", prefix="q")
    keys = api_tokens_issue(usernames=[f"q{i}" for i in range(1, count + 1)])
    fill(queue_redis(), count=AHEAD, first_id=FAKE_IDS)

    from django.contrib.auth import get_user_model

    ids = dict(get_user_model().objects.filter(username__in=keys).values_list("username", "id"))
    status_specs = []
    for i in range(ISSUE_USERS + 1, count + 1):
        name = f"q{i}"
        ticket = queue_token_issue(user_id=ids[name])
        status_specs.append(
            {
                "method": "GET",
                "path": "/api/queue/tokens/current",
                "headers": {"Authorization": f"Token {keys[name]}", "Queue-Token": ticket.token},
            }
        )
    fresh = iter(f"q{i}" for i in range(1, ISSUE_USERS + 1))

    def issue_specs() -> list[dict]:
        batch = [next(fresh, None) for _ in range(ISSUE_USERS // 3)]
        return [
            {
                "method": "POST",
                "path": "/api/queue/tokens",
                "headers": {"Authorization": f"Token {keys[name]}"},
            }
            for name in batch
            if name
        ]

    with harness.server(workers=2) as port:
        summary = harness.compare(
            port,
            {"token issue (201)": issue_specs, "token status": status_specs},
            rounds=3,
            duration=4.0,
            concurrency=16,
            once={"token issue (201)"},
        )
    harness.print_table(
        f"queue API, {AHEAD:,} already waiting, 2 gunicorn workers, 16 connections", summary
    )
    waiting = queue_redis().zcard("cbq:{main}:waiting")
    print(f"waiting at the end: {waiting:,}")
    queue_redis().flushdb()


if __name__ == "__main__":
    main()
