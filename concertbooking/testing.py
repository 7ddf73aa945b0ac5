"""Test helpers every app's tests use for the real processes they start."""

import os
import signal
import subprocess


def process_group_stop(process: subprocess.Popen, *, timeout: float = 10) -> None:
    """Stop a process started with `start_new_session=True` and everything it forked: SIGTERM,
    then SIGKILL if it has not exited within `timeout` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=timeout)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
