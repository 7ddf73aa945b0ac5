"""The app server chosen by measurement: candidate worker models side by side in one run, in
absolute figures. Every candidate serves the same mix of the app's calls (health, a signed-in
queue poll, two signed-in catalog reads) at the same concurrency, first alone, then beside slow
clients (half sending their requests a byte at a time, half holding idle keep-alive
connections). Rounds interleave the candidates (ABCD ABCD ...), so the host's noise hits all
alike; a figure is the median over rounds.

Candidates: gunicorn sync (before), gunicorn gthread with keep-alive (with one shared listening
socket, and with a socket per worker), granian's WSGI server, and gunicorn sync, gunicorn
gthread and granian behind nginx (deploy/nginx.conf, request and response buffering).
"""

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness, nginx  # noqa: E402

DATABASE = os.environ.get("BENCH_SERVING_DATABASE") or "cb_bench_serving"
REDIS_DB = int(os.environ.get("BENCH_SERVING_REDIS_DB") or 7)
CONCERTS, DATES, SEATS = 40, 4, 50
READERS = 200
# The same for every candidate: three processes on two cores, as `make serve` runs; the
# threaded ones get four threads each for the time a request waits on PostgreSQL or Redis.
WORKERS, THREADS = 3, 4
CONNECTIONS = 16
SLOW_CLIENTS = 32
ROUNDS = int(os.environ.get("BENCH_SERVING_ROUNDS") or 4)
SECONDS = 3.0
# The slow clients start this long before the normal ones, so they hold what they will hold.
SLOW_LEAD = 1.0
BIN = Path(harness.PYTHON).parent
OUT = harness.ROOT / "bench" / "out"

SYNC, GTHREAD_SHARED, GTHREAD, GRANIAN, NGINX, NGINX_GTHREAD, NGINX_GRANIAN = (
    "gunicorn sync",
    "gthread, one socket",
    "gunicorn gthread",
    "granian WSGI",
    "nginx + gunicorn sync",
    "nginx + gunicorn gthread",
    "nginx + granian",
)
# Each gunicorn candidate's worker model on its command line (bench/gunicorn_candidates.py has
# the rest, without gunicorn.conf.py's SO_REUSEPORT, which no option turns off).
GUNICORN = [harness.PYTHON, "-m", "gunicorn", "-c", "bench/gunicorn_candidates.py"]
GUNICORN_SYNC = [*GUNICORN, "-k", "sync", "--threads", "1", "--workers", str(WORKERS)]
# Without SO_REUSEPORT the workers share one listening socket, and whichever wakes first takes
# most of a burst of new connections, then keeps them while they are kept alive.
GUNICORN_GTHREAD_SHARED = [
    *GUNICORN,
    "-k",
    "gthread",
    "--threads",
    str(THREADS),
    "--workers",
    str(WORKERS),
    "--keep-alive",
    "5",
]
# A socket per worker (SO_REUSEPORT): the kernel spreads new connections over the workers.
GUNICORN_GTHREAD = [*GUNICORN_GTHREAD_SHARED, "--reuse-port"]


def granian(port: int, threads: int = THREADS) -> list[str]:
    return [
        str(BIN / "granian"),
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
        "--blocking-threads",
        str(threads),
        "--no-ws",
        "--log-level",
        "warning",
    ]


def build_mix() -> list[dict]:
    """A fresh bench database with a small catalog and admitted readers; the mix's requests,
    in turn: health, the reader's queue poll, a concert's dates, a date's seats."""
    harness.configure(database=DATABASE, redis_db=REDIS_DB)
    harness.prepare_database(fresh=True)
    harness.make_client_flush()
    harness.manage("collectstatic", "--noinput", "-v0")
    harness.setup_django()
    from booking.models import ConcertSchedule
    from booking.services import catalog_seed

    catalog_seed(concerts=CONCERTS, dates_per_concert=DATES, seats_per_date=SEATS)
    schedules = list(ConcertSchedule.objects.order_by("id").values_list("concert_id", "id"))
    readers = harness.users("sr", READERS)
    keys = harness.api_keys(readers)
    tokens = harness.admit_all(readers)
    mix = []
    for n, uid in enumerate(readers):
        headers = {"Authorization": f"Token {keys[uid]}", "Queue-Token": tokens[uid]}
        concert, schedule = schedules[n % len(schedules)]
        mix += [
            {"method": "GET", "path": "/api/health"},
            {"method": "GET", "path": "/api/queue/tokens/current", "headers": headers},
            {
                "method": "GET",
                "path": f"/api/concerts/{concert}/available-dates",
                "headers": headers,
            },
            {
                "method": "GET",
                "path": f"/api/concerts/{concert}/schedules/{schedule}/available-seats",
                "headers": headers,
            },
        ]
    return mix


@contextmanager
def slow_clients(port: int):
    """SLOW_CLIENTS slow clients on `port` (bench/slowclients.py) until the block ends."""
    process = subprocess.Popen(
        [
            harness.PYTHON,
            str(harness.ROOT / "bench" / "slowclients.py"),
            "--port",
            str(port),
            "--clients",
            str(SLOW_CLIENTS),
            "--seconds",
            str(SLOW_LEAD + SECONDS + 60),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(SLOW_LEAD)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def candidates():
    """Every candidate started, each on its own port: {name: port}."""
    with ExitStack() as stack:

        def start(command: list[str], **env: str) -> int:
            return stack.enter_context(harness.server(command=command, **env))

        def proxied(command: list[str], app_port: int | None = None) -> int:
            # The app behind a proxy reads the client's address from X-Forwarded-For.
            app_port = stack.enter_context(
                harness.server(port=app_port, command=command, TRUSTED_PROXY_COUNT="1")
            )
            static_root = harness.ROOT / "staticfiles"
            return stack.enter_context(
                nginx.running(app_port=app_port, port=harness.free_port(), static_root=static_root)
            )

        port, behind = harness.free_port(), harness.free_port()
        ports = {
            SYNC: start(GUNICORN_SYNC),
            GTHREAD_SHARED: start(GUNICORN_GTHREAD_SHARED),
            GTHREAD: start(GUNICORN_GTHREAD),
            GRANIAN: stack.enter_context(harness.server(port=port, command=granian(port))),
            NGINX: proxied(GUNICORN_SYNC),
            NGINX_GTHREAD: proxied(GUNICORN_GTHREAD),
            NGINX_GRANIAN: proxied(granian(behind), behind),
        }
        yield ports


def through_nginx(port: int) -> dict[str, str]:
    """What nginx itself answers: a static file from STATIC_ROOT, /metrics refused."""

    def status(path: str) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                return f"{answer.status} ({answer.headers.get('Server')})"
        except urllib.error.HTTPError as error:
            return f"{error.code} ({error.headers.get('Server')})"

    return {path: status(path) for path in ("/static/css/site.css", "/metrics", "/api/health")}


def summary(runs: list[dict]) -> dict:
    bad = sum(count for status, count in runs[-1]["statuses"].items() if status != "200")
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "rps_range": (min(r["rps"] for r in runs), max(r["rps"] for r in runs)),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "p99_range": (min(r["p99_ms"] for r in runs), max(r["p99_ms"] for r in runs)),
        "max_ms": max(r["max_ms"] for r in runs),
        "not_200": bad,
        "errors": sum(r["errors"] for r in runs),
    }


def main() -> None:
    mix = build_mix()
    results: dict[str, dict[str, list]] = {}
    with candidates() as ports:
        for name, port in ports.items():
            harness.warmed(port, mix, concurrency=CONNECTIONS)
            results[name] = {"alone": [], "slow": []}
        nginx_answers = through_nginx(ports[NGINX_GTHREAD])
        for _ in range(ROUNDS):
            for name, port in ports.items():
                run = harness.load(port, mix, concurrency=CONNECTIONS, duration=SECONDS)
                results[name]["alone"].append(run)
                with slow_clients(port):
                    run = harness.load(port, mix, concurrency=CONNECTIONS, duration=SECONDS)
                results[name]["slow"].append(run)
    table = {name: {k: summary(v) for k, v in runs.items()} for name, runs in results.items()}
    OUT.mkdir(exist_ok=True)
    (OUT / "serving.json").write_text(json.dumps({"summary": table, "runs": results}, indent=1))

    print(
        f"\nserving: {WORKERS} processes ({THREADS} threads each where threaded), "
        f"{CONNECTIONS} connections, the mix of health, queue poll, dates and seats; "
        f"median of {ROUNDS} interleaved rounds of {SECONDS:.0f} s"
    )
    print(f"slow: beside {SLOW_CLIENTS} slow clients (half trickling requests, half idle)")
    print(
        f"{'candidate':<24}{'req/s':>8}{'range':>13}{'p50':>7}{'p99':>8}"
        f"{'slow req/s':>12}{'range':>13}{'p50':>7}{'p99':>8}{'p99 range':>15}{'max':>9}"
        "  not 200"
    )
    for name, row in table.items():
        alone, slow = row["alone"], row["slow"]
        print(
            f"{name:<24}{alone['rps']:>8.0f}"
            f"{'{:.0f}-{:.0f}'.format(*alone['rps_range']):>13}"
            f"{alone['p50_ms']:>7.1f}{alone['p99_ms']:>8.1f}"
            f"{slow['rps']:>12.0f}{'{:.0f}-{:.0f}'.format(*slow['rps_range']):>13}"
            f"{slow['p50_ms']:>7.1f}{slow['p99_ms']:>8.1f}"
            f"{'{:.0f}-{:.0f}'.format(*slow['p99_range']):>15}{slow['max_ms']:>9.0f}"
            f"  {alone['not_200']}/{slow['not_200']}"
        )
    print(f"\nthrough nginx: {nginx_answers}")
    harness.make_client_flush()


if __name__ == "__main__":
    main()
