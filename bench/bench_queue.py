"""Waiting rooms: Redis memory per waiting person with a million waiting in one room, Redis round
trips per join, poll and gate check with one room and with many, and token issue and status
throughput as ratios to GET /api/health on the same app server."""

import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import queue_fill as fill  # noqa: E402

SERVER_REDIS_DB = 12
MEMORY_REDIS_DB = 13  # its own db, emptied before and after
MILLION = 1_000_000
# Sparse ids: every SPARSE_STEP-th id waits, so each poll hash holds that many times fewer.
SPARSE_STEP = 10
MEMORY_GOAL = 200  # bytes per waiting person, at most
AHEAD = 100_000  # waiting in front of the measured users, so positions are six digits deep
ISSUE_USERS = 40_000  # every issue request is a new user (201); three rounds use them up slowly
STATUS_USERS = 2_000
FAKE_IDS = 10_000_000  # queue-only user ids for the filler, far from real ones
ROOM_COUNTS = (1, 50)  # concert rooms open at once in the round-trip count
ROOM_CROWD = 2_000  # waiting in each of them


def memory_per_waiting_user(*, id_step: int) -> dict:
    """A million waiting in the site-wide room, their ids `id_step` apart: bytes per waiting
    person by MEMORY USAGE of the room's keys and by INFO used_memory."""
    import redis
    from django.conf import settings

    from queueing.keys import room_keys

    client = redis.Redis(host="127.0.0.1", port=6379, db=MEMORY_REDIS_DB)
    client.flushdb()
    before = client.info("memory")["used_memory"]
    seconds = fill(client, count=MILLION, first_id=FAKE_IDS, id_step=id_step)
    after = client.info("memory")["used_memory"]
    keys = room_keys(settings.QUEUE_ROOM)
    assert client.zcard(keys.waiting) == MILLION
    # samples=0: every element is counted, not an estimate from a few.
    waiting = client.memory_usage(keys.waiting, samples=0)
    poll_keys = list(client.scan_iter(match=f"{keys.polls}*", count=10_000))
    pipe = client.pipeline(transaction=False)
    for key in poll_keys:
        pipe.memory_usage(key, samples=0)
    polls = sum(pipe.execute())
    others = [
        key for key in client.scan_iter(count=10_000) if not key.decode().startswith(keys.polls)
    ]
    rest = sum(client.memory_usage(key, samples=0) for key in others) - waiting
    client.flushdb()
    return {
        "fill_seconds": seconds,
        "info_delta": (after - before) / MILLION,
        "keys": (waiting + polls + rest) / MILLION,
        "waiting": waiting / MILLION,
        "polls": polls / MILLION,
        "poll_hashes": len(poll_keys),
        "rest": rest / MILLION,
    }


@contextmanager
def counted_round_trips():
    """Count what this process sends to Redis: every request (a command, or a whole pipeline)
    is one write to a connection's socket, so the writes are the round trips. Yields a list
    that collects each command's name."""
    from redis.connection import AbstractConnection

    sent: list[str] = []
    send_command = AbstractConnection.send_command
    send_packed = AbstractConnection.send_packed_command

    def counting_command(self, *args, **kwargs):
        sent.append(str(args[0]).upper())
        return send_packed(self, self._command_packer.pack(*args), **kwargs)

    def counting_packed(self, command, check_health=True):
        sent.append("(pipeline or raw)")
        return send_packed(self, command, check_health)

    AbstractConnection.send_command = counting_command
    AbstractConnection.send_packed_command = counting_packed
    try:
        yield sent
    finally:
        AbstractConnection.send_command = send_command
        AbstractConnection.send_packed_command = send_packed


def round_trips(call, /, **kwargs) -> tuple[list[str], object]:
    """The Redis requests `call(**kwargs)` makes, and what it returns."""
    with counted_round_trips() as sent:
        result = call(**kwargs)
    return sent, result


def place_round_trips(*, concert_id: int, user_id: int) -> dict[str, list[str]]:
    """The Redis requests of one user's join, poll and gate checks (waiting, then admitted) in
    the concert's room, through the services and the gate the views call, and of one tick."""
    from queueing import gate, selectors, services

    sent = {}
    sent["join"], ticket = round_trips(
        services.queue_token_issue, user_id=user_id, concert_id=concert_id
    )
    sent["poll"], polled = round_trips(
        selectors.queue_token_status, token=ticket.token, user_id=user_id
    )
    assert polled.status == "waiting" and polled.position == ROOM_CROWD + 1, polled
    room = selectors.room_for_concert(concert_id)
    check = {"token": ticket.token, "user_id": user_id, "room": room.name}
    sent["gate (waiting)"], (_, refusal) = round_trips(gate.check, **check)
    assert refusal is not None and refusal.code == "queue_not_admitted", refusal
    services.queue_promote(config=replace(room, capacity=MILLION, admit_per_tick=MILLION))
    sent["gate (admitted)"], (_, refusal) = round_trips(gate.check, **check)
    assert refusal is None, refusal
    sent["promote tick, all rooms"], _ = round_trips(services.queue_promote_all)
    return sent


def round_trips_per_operation(concert_ids: list[int]) -> dict[int, dict[str, list[str]]]:
    """place_round_trips in the last of 1, then of many concert rooms, each room filled with
    ROOM_CROWD waiting. The rooms' settings are read once first: a web worker caches them."""
    from concertbooking.redis import queue_redis
    from queueing import selectors, services, store
    from queueing.keys import room_keys

    results = {}
    next_user = FAKE_IDS * 2
    for count in ROOM_COUNTS:
        for concert_id in concert_ids[:count]:
            if selectors.room_of_concert(concert_id) is None:
                services.room_save(concert_id=concert_id)
            room = selectors.room_named(f"c{concert_id}").name
            if not queue_redis().zcard(room_keys(room).waiting):
                fill(queue_redis(), count=ROOM_CROWD, first_id=next_user, room=room)
                next_user += ROOM_CROWD
        selectors.rooms_forget()
        selectors.rooms_all()
        queue_redis().ping()  # a connection in the pool, as on a busy worker
        # The server knows the scripts, as once any worker has run them: a script it does not
        # know costs its first caller two more round trips (NOSCRIPT, then SCRIPT LOAD).
        for name in ("issue", "status", "gate", "promote"):
            queue_redis().script_load(store.script(name).script)
        results[count] = place_round_trips(concert_id=concert_ids[count - 1], user_id=next_user)
        next_user += 1
    return results


def gate_cost(*, concert_id: int, calls: int = 5_000) -> dict[str, float]:
    """Microseconds per call, in this process: the token's HMAC check alone, a whole gate check
    of an admitted place (the HMAC check, then the gate script), and a trivial script's round
    trip on the same client, the least any check through Redis can cost."""
    import time

    from concertbooking.redis import queue_redis
    from queueing import gate, selectors, services, tokens

    user_id = FAKE_IDS * 3
    token = services.queue_token_issue(user_id=user_id, concert_id=concert_id).token
    room = selectors.room_for_concert(concert_id)
    services.queue_promote(config=replace(room, capacity=MILLION, admit_per_tick=MILLION))
    trivial = queue_redis().register_script("return 1")
    timed = {
        "HMAC check (token_read)": lambda: tokens.token_read(token, user_id=user_id),
        "gate check (HMAC + gate script)": lambda: gate.check(
            token=token, user_id=user_id, room=room.name
        ),
        "trivial script (EVALSHA 'return 1')": lambda: trivial(client=queue_redis()),
    }
    assert gate.check(token=token, user_id=user_id, room=room.name)[1] is None
    result = {}
    for name, call in timed.items():
        call()
        started = time.perf_counter()
        for _ in range(calls):
            call()
        result[name] = (time.perf_counter() - started) / calls * 1e6
    return result


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


def print_memory(label: str, memory: dict) -> None:
    verdict = "yes" if memory["keys"] <= MEMORY_GOAL else "NO"
    print(
        f"{MILLION:,} waiting in one room, {label}: {memory['keys']:.1f} B/person by MEMORY USAGE, "
        f"{memory['info_delta']:.1f} B/person by INFO used_memory "
        f"(goal <= {MEMORY_GOAL}: {verdict}); filled in {memory['fill_seconds']:.1f} s "
        f"({MILLION / memory['fill_seconds']:,.0f} issue scripts/s pipelined)"
    )
    print(f"  waiting zset  {memory['waiting']:6.1f} B/person")
    print(
        f"  poll hashes   {memory['polls']:6.1f} B/person "
        f"({memory['poll_hashes']:,} hashes, {MILLION / memory['poll_hashes']:.1f} fields each)"
    )
    print(f"  other keys    {memory['rest']:6.1f} B/person")


def print_round_trips(results: dict[int, dict[str, list[str]]]) -> None:
    print("\nRedis round trips per operation (services and gate as the views call them)")
    print(f"{'operation':<26}" + "".join(f"{f'{n} room(s)':>12}" for n in results))
    operations = next(iter(results.values()))
    for name in operations:
        cells = "".join(f"{len(results[n][name]):>12}" for n in results)
        commands = sorted(set(results[max(results)][name]))
        print(f"{name:<26}{cells}   {', '.join(commands)}")


def main() -> None:
    harness.configure(database="cb_bench_queue", redis_db=SERVER_REDIS_DB)
    harness.prepare_database(fresh=True)
    harness.make_client_flush()
    harness.setup_django()
    from booking.models import Concert
    from booking.services import catalog_seed
    from concertbooking.redis import queue_redis
    from queueing.keys import room_keys
    from queueing.selectors import site_room

    dense = memory_per_waiting_user(id_step=1)
    print_memory("dense user ids (consecutive)", dense)
    sparse = memory_per_waiting_user(id_step=SPARSE_STEP)
    print_memory(f"sparse user ids (every {SPARSE_STEP}th)", sparse)

    catalog_seed(concerts=max(ROOM_COUNTS), dates_per_concert=1, seats_per_date=10)
    concert_ids = list(Concert.objects.order_by("id").values_list("id", flat=True))
    print_round_trips(round_trips_per_operation(concert_ids))
    print("\ngate check cost in one process (mean of 5,000 calls each)")
    for name, micros in gate_cost(concert_id=concert_ids[0]).items():
        print(f"  {name:<38} {micros:7.1f} us")
    harness.make_client_flush()

    targets = queue_targets(issue_users=ISSUE_USERS, status_users=STATUS_USERS, rounds=3)
    summary = harness.measure(
        targets, workers=2, rounds=3, duration=4.0, concurrency=16, once={"token issue (201)"}
    )
    harness.print_table(
        f"queue API, {AHEAD:,} already waiting, 2 web workers, 16 connections", summary
    )
    waiting = queue_redis().zcard(room_keys(site_room().name).waiting)
    print(f"waiting at the end: {waiting:,}")
    queue_redis().flushdb()


if __name__ == "__main__":
    main()
