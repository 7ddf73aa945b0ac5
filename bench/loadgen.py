"""Closed-loop HTTP load generator (gevent): replays request specs against one server, prints JSON.

Each spec is {"method", "path", "headers", "body"}; specs are used round-robin, or each once with
--once (for requests that change state, such as holds). Bounded by --duration and --max-requests.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from geventhttpclient import HTTPClient  # noqa: E402


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--specs", required=True, help="JSON-lines file of request specs")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--once", action="store_true", help="use each spec at most once")
    args = parser.parse_args()

    with open(args.specs) as fh:
        specs = [json.loads(line) for line in fh if line.strip()]
    source = iter(specs) if args.once else itertools.cycle(specs)
    client = HTTPClient(
        "127.0.0.1",
        args.port,
        concurrency=args.concurrency,
        connection_timeout=5,
        network_timeout=30,
    )
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    deadline = time.monotonic() + args.duration
    sent = 0

    def worker() -> None:
        nonlocal errors, sent
        while time.monotonic() < deadline and sent < args.max_requests:
            try:
                spec = next(source)
            except StopIteration:
                return
            sent += 1
            body = spec.get("body")
            payload = json.dumps(body).encode() if body is not None else None
            # A body is JSON; a GET carries no Content-Type, as a browser's fetch sends none.
            headers = {"Content-Type": "application/json"} if body is not None else {}
            headers.update(spec.get("headers", {}))
            started = time.perf_counter()
            try:
                response = client.request(
                    spec["method"], spec["path"], body=payload, headers=headers
                )
                response.read()
                status = str(response.status_code)
            except Exception:  # a refused or dropped connection is a data point, not a crash
                errors += 1
                status = "error"
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    gevent.joinall([gevent.spawn(worker) for _ in range(args.concurrency)])
    elapsed = time.perf_counter() - started
    latencies.sort()
    json.dump(
        {
            "requests": len(latencies),
            "seconds": round(elapsed, 3),
            "rps": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
            "avg_ms": round(1000 * sum(latencies) / len(latencies), 2) if latencies else 0.0,
            "p50_ms": round(1000 * percentile(latencies, 0.50), 2),
            "p95_ms": round(1000 * percentile(latencies, 0.95), 2),
            "p99_ms": round(1000 * percentile(latencies, 0.99), 2),
            # A connection stuck behind a slow client shows here, not in the percentiles.
            "max_ms": round(1000 * latencies[-1], 2) if latencies else 0.0,
            "errors": errors,
            "statuses": statuses,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
