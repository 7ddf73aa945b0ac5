"""Where a request's CPU goes, by process: the app server's workers, PostgreSQL, Redis and the load
generator, per request, for health and a few of bench_api's targets, side by side in one run.

On two cores shared by all four, throughput is roughly 2 cores x the share in use / the CPU all
of them spend on one request; a target's ratio to health is then about health's CPU per request
over the target's. This shows which process a target's cost sits in, and what a ratio goal
asks of it. Readings come from /proc (Linux): each process's user + system time before and
after a load, divided by the requests answered; the load generator's from its own exit.
"""

import math
import os
import statistics
import sys
from pathlib import Path

# Its own database and Redis db, so it can run beside bench_api.
os.environ.setdefault("BENCH_API_DATABASE", "cb_bench_cpu")
os.environ.setdefault("BENCH_API_REDIS_DB", "13")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_api, harness  # noqa: E402

TARGETS = [
    bench_api.STATUS,
    bench_api.FLOORS[bench_api.SESSION_POLL],
    bench_api.SESSION_POLL,
    bench_api.FLOORS[bench_api.HOLD],
    bench_api.HOLD,
    bench_api.FLOORS[bench_api.PAYMENT],
    bench_api.PAYMENT,
]
PROCESSES = ["web", "postgres", "redis", "loadgen"]
HZ = os.sysconf("SC_CLK_TCK")


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _stat(pid: str) -> tuple[int, int] | None:
    """(parent pid, user + system ticks) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12])


def ticks() -> dict[tuple[str, str], int]:
    """CPU ticks so far of every process of interest: {(kind, pid): ticks}. web is the app
    server this benchmark started (its master, a child of this process, and the workers)."""
    stats = {pid: _stat(pid) for pid in os.listdir("/proc") if pid.isdigit()}
    stats = {pid: stat for pid, stat in stats.items() if stat is not None}
    me = os.getpid()
    masters = {
        pid for pid, (ppid, _) in stats.items() if ppid == me and "gunicorn" in _cmdline(pid)
    }
    found = {}
    for pid, (ppid, used) in stats.items():
        if pid in masters or str(ppid) in masters:
            found[("web", pid)] = used
            continue
        command = _cmdline(pid)
        if command.startswith("postgres"):
            found[("postgres", pid)] = used
        elif command.startswith("redis-server"):
            found[("redis", pid)] = used
    return found


def _busy() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    return sum(values), values[3] + values[4]  # all, idle + iowait


def measure(port: int, specs: list[dict], *, once: bool) -> dict:
    """One load of `specs`: requests per second, the share of both cores in use, and CPU ms per
    request by kind of process."""
    before, (all_before, idle_before), children_before = ticks(), _busy(), os.times()
    run = harness.load(port, specs, duration=bench_api.SECONDS, concurrency=16, once=once)
    after, (all_after, idle_after), children_after = ticks(), _busy(), os.times()
    answered = sum(run["statuses"].values())
    used = dict.fromkeys(PROCESSES, 0.0)
    for (kind, pid), value in after.items():
        used[kind] += value - before.get((kind, pid), 0)
    used["loadgen"] = HZ * (
        children_after.children_user
        + children_after.children_system
        - children_before.children_user
        - children_before.children_system
    )
    return {
        "rps": run["rps"],
        "busy": 1 - (idle_after - idle_before) / max(1, all_after - all_before),
        "ms": {kind: 1000 * value / HZ / max(1, answered) for kind, value in used.items()},
        "statuses": run["statuses"],
    }


def main() -> None:
    targets, _ = bench_api.build_targets()
    rows: dict[str, list[dict]] = {"health": []}
    ratios: dict[str, list[float]] = {name: [] for name in TARGETS}
    with harness.server(
        workers=bench_api.WORKERS, DJANGO_SETTINGS_MODULE=bench_api.SETTINGS
    ) as port:
        for _ in range(bench_api.ROUNDS):
            answered: dict[str, float] = {}
            for name in TARGETS:
                baseline = measure(port, [harness.HEALTH], once=False)
                rows["health"].append(baseline)
                source = targets[name]
                if not callable(source):
                    specs = source
                elif bench_api.FLOORS.get(name) in answered:
                    # As bench_api sizes it: about what a round uses, so only that is warmed.
                    floor = answered[bench_api.FLOORS[name]]
                    specs = source(max(100, math.ceil(harness.FLOOR_HEADROOM * floor)))
                else:
                    specs = source()
                harness.warmed(port, bench_api.first_calls(specs))
                row = measure(port, specs, once=name in bench_api.ONCE)
                answered[name] = row["rps"] * bench_api.SECONDS
                rows.setdefault(name, []).append(row)
                ratios[name].append(row["rps"] / baseline["rps"])

    print(
        f"\nCPU ms per request by process ({bench_api.WORKERS} web workers, 16 connections, "
        f"median of {bench_api.ROUNDS} rounds; ratio paired with its own health round)"
    )
    heads = "".join(f"{kind:>10}" for kind in PROCESSES)
    print(f"{'endpoint':<34}{'req/s':>8}{'ratio':>7}{'busy':>6}{heads}{'all':>8}  statuses")
    for name, runs in rows.items():
        ms = {kind: statistics.median(r["ms"][kind] for r in runs) for kind in PROCESSES}
        ratio = 1.0 if name == "health" else statistics.median(ratios[name])
        cells = "".join(f"{ms[kind]:>10.3f}" for kind in PROCESSES)
        print(
            f"{name:<34}{statistics.median(r['rps'] for r in runs):>8.0f}{ratio:>7.2f}"
            f"{statistics.median(r['busy'] for r in runs):>6.0%}{cells}"
            f"{sum(ms.values()):>8.3f}  {runs[-1]['statuses']}"
        )
    harness.make_client_flush()


if __name__ == "__main__":
    main()
