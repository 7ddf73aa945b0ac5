"""Run callables on many threads at once against the real database, for concurrency tests."""

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection

# PostgreSQL allows 100 connections and test runs share the server: stay well below that.
MAX_THREADS = 32


class Failed:
    """An exception a call raised, kept as a result so the test can assert on it."""

    def __init__(self, exc: BaseException):
        self.exc = exc

    def __repr__(self) -> str:
        return f"Failed({self.exc!r})"


def run_parallel(calls: list[Callable[[], Any]], *, threads: int = MAX_THREADS) -> list[Any]:
    """Run every call, `threads` at a time, all threads released together; results in order.

    Each thread opens its own connection before the start line, so the calls really overlap,
    and closes it when done (Django keeps one connection per thread).
    """
    threads = min(threads, len(calls))
    results: list[Any] = [None] * len(calls)
    start = threading.Barrier(threads)

    def worker(offset: int) -> None:
        try:
            connection.ensure_connection()
            start.wait()
            for index in range(offset, len(calls), threads):
                try:
                    results[index] = calls[index]()
                except Exception as exc:
                    results[index] = Failed(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return results
