"""Where an API request's time goes: bench_api's targets run in-process through the WSGI app,
timed beside GET /api/health (wall and CPU per request), with a pyinstrument profile of each.

    .venv/bin/python bench/profile_api.py                      # every target, text profiles
    .venv/bin/python bench/profile_api.py hold payment --html /tmp/profiles
"""

import argparse
import io
import itertools
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_api, harness  # noqa: E402


def wsgi_environ(spec: dict) -> dict:
    """The environ gunicorn would build for one request spec (no socket, same headers)."""
    body = json.dumps(spec["body"]).encode() if spec.get("body") is not None else b""
    environ = {
        "REQUEST_METHOD": spec["method"],
        "PATH_INFO": spec["path"],
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    for name, value in spec.get("headers", {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def call(application, spec: dict) -> str:
    status = []
    result = application(wsgi_environ(spec), lambda s, headers, exc_info=None: status.append(s))
    try:
        b"".join(result)
    finally:
        result.close()  # request_finished: what gunicorn triggers after each response
    return status[0].split()[0]


def run(application, specs: list[dict]) -> tuple[float, float, dict[str, int]]:
    """(wall ms, CPU ms) per request, and the statuses."""
    statuses: dict[str, int] = {}
    if not specs:
        return 0.0, 0.0, statuses
    wall, cpu = time.perf_counter(), time.process_time()
    for spec in specs:
        code = call(application, spec)
        statuses[code] = statuses.get(code, 0) + 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return 1000 * wall / len(specs), 1000 * cpu / len(specs), statuses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", help="targets whose name contains one of these")
    parser.add_argument("--requests", type=int, default=1000, help="per target")
    parser.add_argument("--html", help="write one pyinstrument HTML profile per target here")
    args = parser.parse_args()

    targets, _ = bench_api.build_targets()
    from django.core.wsgi import get_wsgi_application
    from pyinstrument import Profiler

    application = get_wsgi_application()
    chosen = {
        name: specs
        for name, specs in targets.items()
        if not args.names or any(n in name for n in args.names)
    }
    n = args.requests
    timings = {}
    for name, source in {"health": [harness.HEALTH], **chosen}.items():
        # Three batches: a warm-up, the timing and the profile. One-off requests (holds,
        # payments, issues) come fresh from the target; the others repeat.
        if callable(source):
            specs = source() + source() + source()
        else:
            specs = list(itertools.islice(itertools.cycle(source), 3 * n))
        if len(specs) < 3 * n:
            sys.exit(f"{name}: only {len(specs)} one-off requests prepared, {3 * n} needed")
        run(application, specs[:n])
        run(application, bench_api.first_calls(specs[n:]))
        timings[name] = run(application, specs[n : 2 * n])
        profiler = Profiler(interval=0.0002)
        with profiler:
            run(application, specs[2 * n : 3 * n])
        if args.html:
            out = Path(args.html) / (re.sub(r"\W+", "-", name).strip("-") + ".html")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(profiler.output_html())
        else:
            print(f"\n===== {name}")
            print(profiler.output_text(unicode=False, color=False, show_all=False))

    health_wall = timings["health"][0]
    print(f"\nin-process, {n} requests each (no sockets, no gunicorn)")
    print(
        f"{'endpoint':<30}{'wall ms':>9}{'CPU ms':>9}{'waiting ms':>12}{'health/x':>10}  statuses"
    )
    for name, (wall, cpu, statuses) in timings.items():
        print(
            f"{name:<30}{wall:>9.3f}{cpu:>9.3f}{wall - cpu:>12.3f}"
            f"{health_wall / wall:>10.2f}  {statuses}"
        )


if __name__ == "__main__":
    main()
