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
def queue_scripts_loaded():
    """The server knows every queue script in both forms, as on a site that has run a while:
    a round-trip count then never includes the one-off SCRIPT LOAD after a NOSCRIPT."""
    from concertbooking.redis import queue_redis
    from queueing import store

    for name in ("issue", "status", "gate", "release"):
        queue_redis().script_load(store.script(name).script)
    for name in store._USER_ARG:
        queue_redis().script_load(store.script_as_entry_user(name).script)


@pytest.fixture
def queue_settings():
    """Set live queue settings through the service (and so through the database)."""
    return queue_settings_update


@contextlib.contextmanager
def first_script_call_fails():
    """The first script call sent on its own (not in a pipeline) gets MASTERDOWN back, as from
    Redis mid-failover; later calls are answered."""
    import redis
    from redis.exceptions import MasterDownError

    original = redis.client.Redis.execute_command
    failed = []

    def execute_command(self, *args, **options):
        if args[0] == "EVALSHA" and not failed:
            failed.append(args)
            raise MasterDownError("MASTERDOWN Link with MASTER is down")
        return original(self, *args, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redis.client.Redis, "execute_command", execute_command)
        yield failed


class TcpProxy:
    """Forwards a local port to Redis; `cut()` drops every connection and refuses new ones.

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

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
