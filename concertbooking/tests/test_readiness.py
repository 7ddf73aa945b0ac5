"""GET /api/ready against the real services, and against real sockets that fail them: one where
nothing listens, and one that accepts and never answers."""

import contextlib
import copy
import socket
import threading
import time

import pytest
from django.core.cache import cache

from concertbooking import readiness
from concertbooking.celery import app as celery_app
from concertbooking.heartbeat import HEARTBEAT_KEY, heartbeat_mark

pytestmark = pytest.mark.django_db

CHECKS = {"database", "queue_redis", "cache", "broker", "beat"}
# One second per check, all at once, and a little for the request itself.
ANSWER_WITHIN = 1.5


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    for conn in held:
        conn.close()


@pytest.fixture
def closed_port():
    """A loopback port where nothing listens (bound, then released)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def ready(api_client):
    started = time.monotonic()
    response = api_client.get("/api/ready")
    return response, time.monotonic() - started


def assert_not_ready(response, elapsed, *failed):
    body = response.json()
    assert response.status_code == 503, body
    assert body["code"] == "not_ready"
    assert set(body["checks"]) == CHECKS
    assert {name for name, outcome in body["checks"].items() if outcome != "ok"} == set(failed)
    for name in failed:
        assert name in body["detail"]
    assert elapsed < ANSWER_WITHIN


def test_all_up_is_ready(api_client):
    heartbeat_mark()
    response, _ = ready(api_client)
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": dict.fromkeys(CHECKS, "ok")}


def test_liveness_stays_plain(api_client):
    """/api/health stays liveness: it asks nothing of the services."""
    assert api_client.get("/api/health").json() == {"status": "ok"}


@pytest.mark.parametrize("where", ["silent", "closed"])
def test_queue_redis_down(api_client, queue_redis_at, silent_port, closed_port, where):
    heartbeat_mark()
    port = silent_port if where == "silent" else closed_port
    queue_redis_at(f"redis://127.0.0.1:{port}/0")
    response, elapsed = ready(api_client)
    assert_not_ready(response, elapsed, "queue_redis")


@pytest.mark.parametrize("where", ["silent", "closed"])
def test_cache_down(api_client, settings, silent_port, closed_port, where):
    heartbeat_mark()
    port = silent_port if where == "silent" else closed_port
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = f"redis://127.0.0.1:{port}/0"
    settings.CACHES = caches
    response, elapsed = ready(api_client)
    # The heartbeat lives in the cache, so beat cannot be vouched for either.
    assert_not_ready(response, elapsed, "cache", "beat")


@pytest.mark.parametrize("where", ["silent", "closed"])
def test_broker_down(api_client, monkeypatch, silent_port, closed_port, where):
    heartbeat_mark()
    port = silent_port if where == "silent" else closed_port
    monkeypatch.setitem(celery_app.conf, "broker_url", f"redis://127.0.0.1:{port}/0")
    response, elapsed = ready(api_client)
    assert_not_ready(response, elapsed, "broker")


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.parametrize("where", ["silent", "closed"])
def test_database_down(api_client, settings, silent_port, closed_port, where):
    """The check opens a connection of its own from the settings, so a server that stops
    answering is seen within the second (the test's own connection is left alone)."""
    heartbeat_mark()
    databases = copy.deepcopy(settings.DATABASES)
    databases["default"].update(
        HOST="127.0.0.1", PORT=str(silent_port if where == "silent" else closed_port)
    )
    settings.DATABASES = databases
    response, elapsed = ready(api_client)
    assert_not_ready(response, elapsed, "database")


def test_everything_hanging_still_answers_within_the_second(
    api_client, settings, queue_redis_at, monkeypatch, silent_port
):
    silent = f"redis://127.0.0.1:{silent_port}/0"
    queue_redis_at(silent)
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = silent
    settings.CACHES = caches
    monkeypatch.setitem(celery_app.conf, "broker_url", silent)
    databases = copy.deepcopy(settings.DATABASES)
    databases["default"].update(HOST="127.0.0.1", PORT=str(silent_port))
    with pytest.warns(UserWarning, match="DATABASES"):
        settings.DATABASES = databases
    response, elapsed = ready(api_client)
    assert_not_ready(response, elapsed, *CHECKS)


def test_stale_heartbeat(api_client, settings):
    settings.BEAT_HEARTBEAT_MAX_SECONDS = 30
    cache.set(HEARTBEAT_KEY, time.time() - 45, timeout=3600)
    response, elapsed = ready(api_client)
    assert_not_ready(response, elapsed, "beat")
    assert "45 s ago" in response.json()["checks"]["beat"]


def test_missing_heartbeat(api_client):
    response, elapsed = ready(api_client)
    assert_not_ready(response, elapsed, "beat")
    assert response["Retry-After"]


def test_ready_is_in_the_schema(api_client):
    schema = api_client.get("/api/schema", HTTP_ACCEPT="application/json").json()
    answers = schema["paths"]["/api/ready"]["get"]["responses"]
    assert {"200", "503"} <= set(answers)


def test_probes_close_together_share_one_set_of_checks(monkeypatch):
    """Twenty probes at once, while the checks take a while: one set of checks runs and every
    probe gets its outcome; a probe soon after gets it too, and one after REUSE_SECONDS
    checks again."""
    heartbeat_mark()
    runs = []
    started = threading.Event()
    release = threading.Event()
    database, beat = readiness.CHECKS["database"], readiness.CHECKS["beat"]

    def database_held() -> None:
        started.set()
        assert release.wait(10)
        database()

    def beat_counted() -> None:  # quick, so only a shared set keeps it from running again
        runs.append("beat")
        beat()

    monkeypatch.setitem(readiness.CHECKS, "database", database_held)
    monkeypatch.setitem(readiness.CHECKS, "beat", beat_counted)
    outcomes = []

    def probe() -> None:
        outcomes.append(readiness.readiness())

    probes = [threading.Thread(target=probe) for _ in range(20)]
    probes[0].start()
    assert started.wait(10)  # the first probe's checks are under way
    for thread in probes[1:]:
        thread.start()
    time.sleep(0.2)  # the other probes are waiting for them
    release.set()
    for thread in probes:
        thread.join(10)

    assert len(runs) == 1
    assert outcomes == [dict.fromkeys(CHECKS, "ok")] * 20
    assert readiness.readiness() == dict.fromkeys(CHECKS, "ok")
    assert len(runs) == 1  # reused: the outcome is younger than REUSE_SECONDS
    monkeypatch.setattr(readiness, "REUSE_SECONDS", 0)
    assert readiness.readiness() == dict.fromkeys(CHECKS, "ok")
    assert len(runs) == 2


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_a_hanging_check_is_not_started_again(settings, monkeypatch, silent_port):
    """While the database never answers, the next set of checks waits again for the check
    still hanging rather than opening another connection: one thread, one connection."""
    heartbeat_mark()
    monkeypatch.setattr(readiness, "REUSE_SECONDS", 0)
    databases = copy.deepcopy(settings.DATABASES)
    databases["default"].update(HOST="127.0.0.1", PORT=str(silent_port))
    settings.DATABASES = databases
    assert readiness.readiness()["database"] == "no answer within 1.3 s"
    hanging = readiness._running["database"]
    # The same connection attempt: still no answer, or by now its 2 s connect timeout.
    assert readiness.readiness()["database"] in {
        "no answer within 1.3 s",
        "OperationalError: connection timeout expired",
    }
    assert readiness._running["database"] is hanging
