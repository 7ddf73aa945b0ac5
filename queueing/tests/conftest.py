"""Queue test fixtures: users in bulk, live settings, and a TCP proxy that can cut Redis off."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
from django.contrib.auth import get_user_model

from queueing.services import queue_settings_update


@pytest.fixture
def make_users():
    def make(count: int, prefix: str = "queuer") -> list:
        User = get_user_model()
        User.objects.bulk_create(User(username=f"{prefix}{i}", password="!") for i in range(count))
        return list(User.objects.filter(username__startswith=prefix).order_by("pk"))

    return make


@pytest.fixture
def queue_settings():
    """Set live queue settings through the service (and so through the database)."""
    return queue_settings_update


class TcpProxy:
    """Forwards a local port to Redis; `cut()` drops every connection and refuses new ones,
    `pause()` stops forwarding.

    Lets a test take the queue's Redis away and bring it back without touching the server
    everyone else uses.
    """

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            if self._listener is not None:
                # shutdown() wakes the thread blocked in accept(); close() alone would not.
                with contextlib.suppress(OSError):
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self._open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def pause(self, *, paused: bool = True) -> None:
        """Stop (or let go on) forwarding, as a Redis that hangs: connections stay open, and
        what was sent meanwhile arrives once it goes on."""
        if paused:
            self._flowing.clear()
        else:
            self._flowing.set()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
