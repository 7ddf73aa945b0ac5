"""The queue on a three-master Redis Cluster on loopback: what a call for a room costs with every
master up, with its master hung (never answers: held down after one timeout) and killed
(connection refused), and what a room on a live master costs meanwhile, alone and while another
thread keeps calling the dead room. Store calls from this process; no web server."""

import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

PORTS = (7121, 7122, 7123)  # not the tests' ports, so a test run beside this one is unharmed
CALLS = 1_000
AWAY_ROOMS = 5


def _percentiles(millis: list[float]) -> str:
    millis = sorted(millis)
    p50, p99 = millis[len(millis) // 2], millis[min(len(millis) - 1, int(len(millis) * 0.99))]
    return f"n={len(millis):>5}  p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  max {millis[-1]:8.2f} ms"


def main() -> None:
    from queueing.tests import redis_servers

    with (
        tempfile.TemporaryDirectory() as root,
        redis_servers.Cluster(Path(root), PORTS) as cluster,
    ):
        harness.setup_django(QUEUE_REDIS_URL=cluster.url)
        measure(cluster)


def measure(cluster) -> None:
    from django.conf import settings
    from redis.cluster import key_slot

    from concertbooking.redis import queue_redis
    from queueing import store
    from queueing.errors import QueueUnavailable
    from queueing.keys import room_keys

    def master_of(room: str) -> int:
        slot = key_slot(room_keys(room).waiting.encode())
        return queue_redis().nodes_manager.get_node_from_slot(slot).port

    # AWAY_ROOMS rooms on the master taken away, one on each other: a tick that waited once per
    # room would show it.
    away_port = PORTS[0]
    rooms: dict[str, int] = {}
    concert_id = 0
    while len(rooms) < AWAY_ROOMS + len(PORTS) - 1:
        concert_id += 1
        port = master_of(f"c{concert_id}")
        on_port = sum(1 for p in rooms.values() if p == port)
        if on_port < (AWAY_ROOMS if port == away_port else 1):
            rooms[f"c{concert_id}"] = port
    away = next(room for room, port in rooms.items() if port == away_port)
    live = next(room for room, port in rooms.items() if port != away_port)

    def status(room: str) -> None:
        with contextlib.suppress(QueueUnavailable):
            store.status(room=room, user_id=1, stamp=1, abandon_ms=60_000)

    def tick() -> None:
        for room in rooms:
            with contextlib.suppress(QueueUnavailable):
                store.promote(
                    room=room,
                    capacity=100,
                    admit_per_tick=20,
                    session_ms=600_000,
                    abandon_ms=120_000,
                    admitting=True,
                )

    def timed(call, count: int) -> list[float]:
        millis = []
        for _ in range(count):
            started = time.perf_counter()
            call()
            millis.append((time.perf_counter() - started) * 1000)
        return millis

    def report(label: str, millis: list[float]) -> None:
        print(f"  {label:<58} {_percentiles(millis)}")

    def while_hammered(call, count: int) -> list[float]:
        done = threading.Event()

        def hammer() -> None:
            while not done.is_set():
                status(away)

        thread = threading.Thread(target=hammer)
        thread.start()
        try:
            return timed(call, count)
        finally:
            done.set()
            thread.join()

    print(f"rooms: {rooms}; the master taken away: {away_port}")
    print(f"every master up (hold after a timeout: {settings.QUEUE_NODE_HOLD_SECONDS} s)")
    report("a room's status", timed(lambda: status(live), CALLS))
    report(f"a tick of the {len(rooms)} rooms (promote each)", timed(tick, CALLS // 5))

    cluster.pause(away_port)
    time.sleep(0.2)
    print("master hung (SIGSTOP)")
    report(
        "its room's status, the first call (503; the hold begins)", timed(lambda: status(away), 1)
    )
    report("its room's status while held (503)", timed(lambda: status(away), CALLS))
    report(f"a tick of the {len(rooms)} rooms while held", timed(tick, 50))
    report("a live room's status", timed(lambda: status(live), CALLS))
    report(
        "a live room's status, another thread calling the hung room",
        while_hammered(lambda: status(live), CALLS),
    )
    time.sleep(settings.QUEUE_NODE_HOLD_SECONDS)
    report(
        "its room's status after the hold (503; one try, held again)",
        timed(lambda: status(away), 1),
    )
    hold = settings.QUEUE_NODE_HOLD_SECONDS
    settings.QUEUE_NODE_HOLD_SECONDS = 0
    store.nodes_held_forget()
    report(f"no hold (control): a tick of the {len(rooms)} rooms", timed(tick, 3))
    settings.QUEUE_NODE_HOLD_SECONDS = hold
    cluster.pause(away_port, paused=False)
    time.sleep(hold)
    report("let go on, after the hold: its room's status", timed(lambda: status(away), CALLS))
    cluster.wait_ok()

    cluster.kill(away_port)
    time.sleep(0.2)
    print("master killed (SIGKILL)")
    report("its room's status (503)", timed(lambda: status(away), 50))
    report(f"a tick of the {len(rooms)} rooms", timed(tick, 50))
    report("a live room's status", timed(lambda: status(live), CALLS))
    report(
        "a live room's status, another thread calling the dead room",
        while_hammered(lambda: status(live), CALLS),
    )


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertbooking.settings")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # the finally block stops the servers
    main()
