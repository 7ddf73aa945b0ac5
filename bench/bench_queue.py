"""Waiting queue: token issue and status throughput as ratios to GET /api/health on the same
gunicorn server, and Redis memory per waiting user with a million waiting."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import queue_fill as fill  # noqa: E402

SERVER_REDIS_DB = 9
MEMORY_REDIS_DB = 10  # its own db, emptied before and after
MILLION = 1_000_000
AHEAD = 100_000  # waiting in front of the measured users, so positions are six digits deep
ISSUE_USERS = 40_000  # every issue request is a new user (201); three rounds use them up slowly
STATUS_USERS = 2_000
FAKE_IDS = 10_000_000  # queue-only user ids for the filler, far from real ones


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


def queue_targets(*, issue_users: int, status_users: int, rounds: int) -> dict:
    """Seed the queue API's targets behind AHEAD waiting users; send issue once per user.

    Token issue: users without a place, a new one each request (201), `issue_users` spread over
    `rounds`. Token status: `status_users` waiting users polling (each poll keeps the place).
    Issue the status tokens last before the run: a waiting place not polled in
    QUEUE_ABANDON_SECONDS is lost.
    """
    from concertbooking.redis import queue_redis
    from queueing.services import queue_token_issue

    issuers = harness.users("qi", issue_users)
    pollers = harness.users("qs", status_users)
    keys = harness.api_keys(issuers + pollers)
    fill(queue_redis(), count=AHEAD, first_id=FAKE_IDS)
    status_specs = [
        {
            "method": "GET",
            "path": "/api/queue/tokens/current",
            "headers": {
                "Authorization": f"Token {keys[uid]}",
                "Queue-Token": queue_token_issue(user_id=uid).token,
            },
        }
        for uid in pollers
    ]
    fresh = iter(issuers)

    def issue_specs(limit: int | None = None) -> list[dict]:
        count = issue_users // rounds if limit is None else min(issue_users // rounds, limit)
        return [
            {
                "method": "POST",
                "path": "/api/queue/tokens",
                "headers": {"Authorization": f"Token {keys[uid]}"},
            }
            for _, uid in zip(range(count), fresh, strict=False)
        ]

    return {"token issue (201)": issue_specs, "token status": status_specs}


def main() -> None:
    harness.configure(database="cb_bench_queue", redis_db=SERVER_REDIS_DB)
    harness.prepare_database(fresh=True)
    harness.make_client_flush()
    harness.setup_django()
    from concertbooking.redis import queue_redis

    memory = memory_per_waiting_user()
    print(
        f"1,000,000 waiting: {memory['keys_per_user']:.0f} B/user by MEMORY USAGE, "
        f"{memory['info_delta_per_user']:.0f} B/user by INFO used_memory; "
        f"filled in {memory['fill_seconds']:.1f} s "
        f"({MILLION / memory['fill_seconds']:,.0f} issue scripts/s pipelined)"
    )
    for name, size in memory["per_key"].items():
        print(f"  {name:<8} {size:6.1f} B/user")

    targets = queue_targets(issue_users=ISSUE_USERS, status_users=STATUS_USERS, rounds=3)
    summary = harness.measure(
        targets, workers=2, rounds=3, duration=4.0, concurrency=16, once={"token issue (201)"}
    )
    harness.print_table(
        f"queue API, {AHEAD:,} already waiting, 2 gunicorn workers, 16 connections", summary
    )
    waiting = queue_redis().zcard("cbq:{main}:waiting")
    print(f"waiting at the end: {waiting:,}")
    queue_redis().flushdb()


if __name__ == "__main__":
    main()
