"""/metrics: requests by view after real requests, the token, and several server processes
sharing one directory (a real gunicorn with two workers, one of them killed)."""

import glob
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from concertbooking.testing import process_group_stop
from concertbooking.tests.scrape import samples, scrape, value

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = "concertbooking_http_requests_total"
LATENCY = "concertbooking_http_request_duration_seconds"


def _count(scraped, view, status="200", method="GET") -> float:
    return value(scraped, REQUESTS, view=view, method=method, status=str(status)) or 0


def test_requests_are_counted_and_timed_by_view_never_by_path(client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/api/health").status_code == 200
    # Two ids, one view: the label is the URL pattern's name.
    client.get("/api/concerts/1/available-dates")
    client.get("/api/concerts/2/available-dates")
    client.get("/api/no/such/thing")
    client.get("/no-such-page-either")
    client.generic("BREW", "/api/health")
    after = scrape(client)

    assert _count(after, "api-health") - _count(before, "api-health") == 3
    assert (
        _count(after, "api-available-dates", 401) - _count(before, "api-available-dates", 401) == 2
    )
    count_of = {
        "api_not_found": _count(after, "concertbooking.api.api_not_found", 404)
        - _count(before, "concertbooking.api.api_not_found", 404),
        "unmatched": _count(after, "unmatched", 404) - _count(before, "unmatched", 404),
        "other": _count(after, "api-health", 405, method="other")
        - _count(before, "api-health", 405, method="other"),
    }
    assert count_of == {"api_not_found": 1, "unmatched": 1, "other": 1}
    # No label anywhere carries a path.
    assert not [labels for (_, labels) in after if any("/" in v for _, v in labels)]

    timed = value(after, f"{LATENCY}_count", view="api-health", method="GET")
    assert timed - (value(before, f"{LATENCY}_count", view="api-health", method="GET") or 0) == 3
    assert value(after, f"{LATENCY}_bucket", view="api-health", method="GET", le="+Inf") == timed
    assert value(after, f"{LATENCY}_sum", view="api-health", method="GET") > 0


def test_the_token_guards_the_metrics_when_set(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.json()["code"] == "not_authenticated"
    assert missing["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert (wrong.status_code, wrong.json()["code"]) == (403, "permission_denied")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Token s3cret-scrape-token").status_code == 401
    scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")


def test_only_get(client):
    response = client.post("/metrics")
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")


# --- Several processes -------------------------------------------------------------------------


def _get(base: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _workers(master: int) -> set[int]:
    with open(f"/proc/{master}/task/{master}/children") as children:
        return {int(pid) for pid in children.read().split()}


@pytest.fixture
def gunicorn(tmp_path, django_db_setup):
    """A gunicorn with two workers from the project's gunicorn.conf.py, on this test's database
    and Redis, sharing a metrics directory; yields (base URL, master pid, directory)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left by an earlier run")
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "DEBUG": "0",
    }
    env.pop("METRICS_TOKEN", None)
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"]
        + ["concertbooking.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(base, "/api/health")[0] == 200 and len(_workers(server.pid)) == 2:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "no server"
            time.sleep(0.2)
        yield base, server.pid, directory
    finally:
        process_group_stop(server, timeout=15)


@pytest.mark.slow
def test_two_workers_count_as_one_site_and_a_killed_worker_keeps_its_counts(gunicorn):
    base, master, directory = gunicorn
    # The server started from an empty directory.
    assert not (directory / "counter_999999.db").exists()

    def health_count() -> float:
        status, text = _get(base, "/metrics")
        assert status == 200
        return _count(samples(text), "api-health")

    start = health_count()  # the start-up probes
    for _ in range(40):
        assert _get(base, "/api/health")[0] == 200  # a new connection each time
    # Whichever worker answers the scrape, it reports both.
    assert {health_count() for _ in range(6)} == {start + 40}
    writers = {int(Path(p).stem.split("_")[1]) for p in glob.glob(f"{directory}/counter_*.db")}
    assert writers == _workers(master), "both workers answered and wrote their own file"

    victim = sorted(writers)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while victim in _workers(master) or len(_workers(master)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    deadline = time.monotonic() + 5
    while (directory / f"counter_{victim}.db").exists():  # the master's hook folds it
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert (directory / "counter_archive.db").exists()
    assert (directory / "histogram_archive.db").exists()
    assert health_count() == start + 40
