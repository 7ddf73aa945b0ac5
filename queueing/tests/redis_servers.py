"""redis-server processes that a test (or a benchmark) starts on loopback and kills, for cluster
and sentinel tests: no persistence, and the kernel kills them should the test process die first."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis


def _die_with_parent() -> None:
    """Runs in the child before exec."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def node(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)


def wait_until(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start(port: int, workdir: Path, *options: str, sentinel: bool = False) -> subprocess.Popen:
    """A redis-server on 127.0.0.1:`port` working in `workdir`, once it answers PING."""
    with socket.socket() as probe:
        # A server left over from an earlier run would answer in place of this one.
        assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is already taken"
    workdir.mkdir(parents=True, exist_ok=True)
    command = ["redis-server"]
    if sentinel:
        # A sentinel rewrites its config file: it must have one of its own.
        config = workdir / "sentinel.conf"
        config.touch()
        command += [str(config), "--sentinel"]
    command += ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)]
    if not sentinel:
        command += ["--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [*command, "--logfile", "redis.log", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    try:
        wait_until(lambda: node(port).ping(), f"redis-server on {port} to start")
    except AssertionError:
        kill(process)
        raise
    return process


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


class Cluster:
    """A Redis Cluster of masters only, on loopback `ports`, with no persistence."""

    def __init__(self, root: Path, ports: tuple[int, ...]):
        self.root = root
        self.ports = ports
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self, port: int) -> None:
        self.processes[port] = start(
            port,
            self.root / str(port),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "1000",
            "--cluster-require-full-coverage", "no",
        )  # fmt: skip

    def create(self) -> None:
        """Start every master and join them, the slots spread evenly."""
        for port in self.ports:
            self.start(port)
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports)]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        self.wait_ok()

    def wait_ok(self) -> None:
        """Until every master sees all three, none flagged as failing: a master that came back
        keeps its FAIL flag a while, and killing it again then changes nothing its peers see."""

        def ok() -> bool:
            for port in self.processes:
                info = self.node(port).cluster("info")
                nodes = self.node(port).cluster("nodes").values()
                if info["cluster_state"] != "ok" or len(nodes) != len(self.ports):
                    return False
                if any("fail" in node["flags"] for node in nodes):  # fail or fail?
                    return False
            return True

        wait_until(ok, "the cluster to say ok")

    def kill(self, port: int) -> None:
        kill(self.processes.pop(port))

    def pause(self, port: int, *, paused: bool = True) -> None:
        """Stop (or let go on) a master: its socket stays open and never answers."""
        self.processes[port].send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def stop_all(self) -> None:
        for port in list(self.processes):
            self.kill(port)

    def __enter__(self) -> Cluster:
        """Created and running; every master is killed on leaving, whatever happened."""
        try:
            self.create()
        except BaseException:
            self.stop_all()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_all()

    def flush(self) -> None:
        for port in self.processes:
            self.node(port).flushall()
            self.node(port).script_flush()

    node = staticmethod(node)
