"""redis-server processes that a test starts on loopback and kills, for cluster and sentinel
tests: no persistence, and the kernel kills them should the test process die first."""

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
