"""`make loadtest`: the production-like stack, one locust scenario, then the invariant audit.

Everything is bounded (users, run time) and aimed at 127.0.0.1 only. Settings come from the
environment (defaults below); results go to loadtest-results/<scenario>/. booking_burst also
sends its health waves (locustfiles/booking_burst.py), and the burst's latency is printed
beside theirs, as ratios with their goals.

    make loadtest                                   # booking_burst, 200 users
    make loadtest SCENARIO=two_rooms                # two concert rooms, a pre-queue, 2000 users
    SCENARIO=queue_storm USERS=1000 RUN_TIME=60s make loadtest
    INSTANCES=2 make loadtest                       # two app servers on one database and Redis
    LOADTEST_DATABASE=cb_lt2 LOADTEST_REDIS_DB=14 LOADTEST_PORT=8200 make loadtest  # beside another
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

SCENARIO = os.environ.get("SCENARIO", "booking_burst")
TWO_ROOMS = SCENARIO == "two_rooms"
USERS = int(os.environ.get("USERS", "2000" if TWO_ROOMS else "200"))
# two_rooms: the crowd arrives over some ten seconds, all of it before the sale starts.
SPAWN_RATE = os.environ.get("SPAWN_RATE", str(USERS // 10 if TWO_ROOMS else USERS))
RUN_TIME = os.environ.get("RUN_TIME", "4m" if TWO_ROOMS else "5m")
WORKERS = os.environ.get("WORKERS", "3")
INSTANCES = int(os.environ.get("INSTANCES", "1"))
BASE_PORT = int(os.environ.get("LOADTEST_PORT", "8100"))
CONCERTS = os.environ.get("CONCERTS", "300")
SEATS = os.environ.get("SEATS", "50")
BALANCE = os.environ.get("BALANCE", "1000000")
# The queue runs on the site's defaults (capacity 100, 20 admitted a second): pacing a burst is
# its job. QUEUE_CAPACITY / QUEUE_ADMIT_PER_TICK in the environment override them for a run.
QUEUE_ENV = {
    name: os.environ[name]
    for name in ("QUEUE_CAPACITY", "QUEUE_ADMIT_PER_TICK")
    if name in os.environ
}
MAX_RUN_SECONDS = 15 * 60  # a hard stop for the whole scenario, whatever RUN_TIME says
# two_rooms: the sale starts this long after its rooms are made, so the whole crowd (spawned at
# SPAWN_RATE once the stack is warm and locust is up) is in the pre-queue by then.
SALE_DELAY_SECONDS = int(os.environ.get("SALE_DELAY_SECONDS", "30"))
ROOMS = 2
# The database and Redis db the stack runs on (dropped and emptied first).
DATABASE = os.environ.get("LOADTEST_DATABASE", "cb_loadtest")
REDIS_DB = int(os.environ.get("LOADTEST_REDIS_DB", "8"))
# A scenario with health waves (booking_burst): the most its flow's latency may be, as a
# multiple of theirs.
BURST_AVG_GOAL, BURST_P99_GOAL = 2.0, 1.5

OUT = ROOT / "loadtest-results" / SCENARIO


def _wait_healthy(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the stack on port {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the stack on port {port} did not answer within 60 s")


def start_stack() -> list[subprocess.Popen]:
    """`make serve` (web, both workers, beat) on the first port, web-only instances after it."""
    stacks = []
    for index in range(INSTANCES):
        port = BASE_PORT + index
        args = ["make", "--no-print-directory", "serve", f"PORT={port}", f"WORKERS={WORKERS}"]
        if index:
            args.append("PROCESSES=web")
        log = open(OUT / f"serve-{port}.log", "w")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=harness.bench_env(**QUEUE_ENV, LOG_LEVEL="WARNING"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so the whole honcho tree stops together
        )
        stacks.append(process)
        _wait_healthy(port, process)
        print(f"stack {index + 1} up on http://127.0.0.1:{port}", flush=True)
    return stacks


def stop_stack(stacks: list[subprocess.Popen]) -> None:
    for process in stacks:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    for process in stacks:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def rooms_open() -> list[int]:
    """two_rooms: the first ROOMS concerts each get a room of their own, their sale starting
    SALE_DELAY_SECONDS from now (the pre-queue is open from now: PREQUEUE_MINUTES is longer)."""
    code = f"""
import json
from datetime import timedelta
from django.conf import settings
from django.utils import timezone
from booking.models import Concert
from queueing.services import room_save
starts = timezone.now() + timedelta(seconds={SALE_DELAY_SECONDS})
assert settings.PREQUEUE_MINUTES * 60 > {SALE_DELAY_SECONDS}, "the pre-queue must be open now"
ids = list(Concert.objects.order_by("id").values_list("id", flat=True)[:{ROOMS}])
for concert_id in ids:
    room_save(concert_id=concert_id, sale_starts_at=starts)
print(json.dumps({{"concerts": ids, "starts": starts.isoformat()}}))
"""
    opened = json.loads(harness.django_script(code).strip().splitlines()[-1])
    print(f"rooms for concerts {opened['concerts']}, sale starting {opened['starts']}", flush=True)
    return opened["concerts"]


def rooms_report(concert_ids: list[int], seen: dict) -> None:
    """two_rooms: each room's admissions and waits, as its buyers saw them and as the room
    recorded them (from the sale's start to the admission, the latest thousand)."""
    code = f"""
import json
from queueing import store
rooms = {{}}
for concert_id in {concert_ids!r}:
    figures = store.figures(room=f"c{{concert_id}}")
    rooms[concert_id] = {{
        "admitted": figures.admitted_total, "waiting": figures.waiting,
        "drawn": figures.drawn, "free_seats": figures.free_seats,
        "waits_ms": figures.latest_waits_ms,
    }}
print(json.dumps(rooms))
"""
    recorded = json.loads(harness.django_script(code).strip().splitlines()[-1])
    print("\nper room: admissions and waits from the sale's start")
    print(
        f"{'concert':<9}{'drawn':>7}{'admitted':>10}{'median s':>10}{'p95 s':>8}{'max s':>8}"
        f"{'bought':>8}{'sold out':>10}{'timed out':>11}{'seen: median s':>16}{'p95 s':>8}"
    )
    for concert_id in concert_ids:
        room, buyers = recorded[str(concert_id)], seen.get(str(concert_id), {})
        waits = sorted(ms / 1000 for ms in room["waits_ms"])
        median = statistics.median(waits) if waits else float("nan")
        p95 = waits[int(0.95 * (len(waits) - 1))] if waits else float("nan")
        longest = waits[-1] if waits else float("nan")
        print(
            f"{concert_id:<9}{room['drawn'] or 0:>7}{room['admitted']:>10}{median:>10.1f}"
            f"{p95:>8.1f}{longest:>8.1f}{buyers.get('bought', 0):>8}"
            f"{buyers.get('sold_out', 0):>10}{buyers.get('timed_out', 0):>11}"
            f"{buyers.get('median_wait_s') or float('nan'):>16.1f}"
            f"{buyers.get('p95_wait_s') or float('nan'):>8.1f}"
        )
    print(
        "  drawn: places in the pre-queue at the start; median/p95/max: the room's record "
        "(the latest 1,000 admissions); seen: when the buyers' polls saw it"
    )


def run_locust(extra_env: dict[str, str] | None = None) -> int:
    hosts = [f"http://127.0.0.1:{BASE_PORT + i}" for i in range(INSTANCES)]
    env = {
        **os.environ,
        **(extra_env or {}),
        "LOCUST_TOKENS_FILE": str(OUT / "tokens.csv"),
        "LOCUST_STEP_REPORT": str(OUT / "steps.json"),
        "LOCUST_HOSTS": ",".join(hosts),
    }
    args = [
        str(ROOT / ".venv" / "bin" / "locust"),
        "-f", str(ROOT / "locustfiles" / f"{SCENARIO}.py"),
        "--headless", "--only-summary",
        "-u", str(USERS), "-r", SPAWN_RATE, "-t", RUN_TIME, "--stop-timeout", "10",
        "--host", hosts[0],
        "--csv", str(OUT / SCENARIO), "--html", str(OUT / f"{SCENARIO}.html"),
    ]  # fmt: skip
    with open(OUT / "locust.log", "w") as log:
        return subprocess.run(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=MAX_RUN_SECONDS
        ).returncode


def summary() -> dict:
    report = json.loads((OUT / "steps.json").read_text())
    print(f"\n{SCENARIO}: {USERS} users, {INSTANCES} instance(s) x {WORKERS} web workers")
    print(
        f"{'endpoint':<26}{'requests':>9}{'fails':>7}{'avg ms':>9}{'p50':>7}{'p95':>7}{'p99':>7}"
        f"{'req/s':>8}"
    )
    rows = [*report["endpoints"], *([report["baseline"]] if report.get("baseline") else [])]
    for row in rows:
        print(
            f"{row['name']:<26}{row['requests']:>9}{row['failures']:>7}{row['avg_ms']:>9.1f}"
            f"{row['p50_ms']:>7.0f}{row['p95_ms']:>7.0f}{row['p99_ms']:>7.0f}{row['rps']:>8.1f}"
        )
    print("step outcomes:", report["outcomes"])
    if report.get("baseline"):
        against_baseline(report["flow"], report["baseline"])
    print(f"reports: {OUT.relative_to(ROOT)}/ ({SCENARIO}.html, steps.json, locust.log)")
    return report


def against_baseline(flow: dict, baseline: dict) -> None:
    """The flow's latency beside the health waves' (the same users and pauses), as ratios."""
    ratios = [
        flow[key] / baseline[key] if baseline[key] else float("inf") for key in ("avg_ms", "p99_ms")
    ]
    goals = [BURST_AVG_GOAL, BURST_P99_GOAL]
    print("\nthe burst against its health waves (the same users and pauses, one run)")
    print(f"{'':<26}{'requests':>9}{'avg ms':>9}{'p99 ms':>9}")
    for row in (flow, baseline):
        print(f"{row['name']:<26}{row['requests']:>9}{row['avg_ms']:>9.1f}{row['p99_ms']:>9.0f}")
    print(f"{'ratio':<35}{ratios[0]:>9.2f}{ratios[1]:>9.2f}")
    print(f"{'goal':<35}{f'<= {goals[0]:.2f}':>9}{f'<= {goals[1]:.2f}':>9}")
    met = ["yes" if ratio <= goal else "NO" for ratio, goal in zip(ratios, goals, strict=True)]
    print(f"{'met':<35}{met[0]:>9}{met[1]:>9}")


def warm_up() -> None:
    """A few hundred requests first, so every worker has its connections and code paths warm."""
    for index in range(INSTANCES):
        harness.load(
            BASE_PORT + index,
            [harness.HEALTH, {"method": "GET", "path": "/api/concerts"}],
            concurrency=8,
            duration=3,
            max_requests=400,
        )


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    harness.configure(database=DATABASE, redis_db=REDIS_DB)
    print("preparing the database ...", flush=True)
    harness.prepare_database(fresh=True)
    harness.make_client_flush()
    users = max(USERS, 200)
    harness.manage(
        "seed_demo", "--reset", "--concerts", CONCERTS, "--seats", SEATS,
        "--users", str(users), "--balance", BALANCE,
    )  # fmt: skip
    harness.manage("api_tokens", "--users", str(users), "--out", str(OUT / "tokens.csv"))
    stacks = start_stack()
    rooms = []
    try:
        # Before the warm-up: web workers cache the rooms' settings for a few seconds, and a
        # join must find the concert's room, not the site-wide one.
        rooms = rooms_open() if TWO_ROOMS else []
        warm_up()
        print(f"running {SCENARIO} for up to {RUN_TIME} ...", flush=True)
        code = run_locust({"LOCUST_ROOM_CONCERTS": ",".join(map(str, rooms))} if rooms else None)
    finally:
        stop_stack(stacks)
    report = summary()
    if rooms:
        rooms_report(rooms, report.get("extra", {}).get("rooms", {}))
    print("\naudit:")
    audit = subprocess.run(
        [sys.executable, "manage.py", "audit"], cwd=ROOT, env=harness.bench_env(), text=True
    )
    if code not in (0, 1):  # locust exits 1 when any request failed; that is in the summary
        print(f"locust exited with {code}; see {OUT / 'locust.log'}")
        return code
    return audit.returncode


if __name__ == "__main__":
    sys.exit(main())
