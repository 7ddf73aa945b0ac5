"""Logs: JSON lines through the real LOGGING, each with the id of the request (or task) that
wrote it, the same id on the response and in the tasks the request queued."""

from __future__ import annotations

import io
import json
import logging
import os
import re
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

ROOT = Path(__file__).resolve().parents[2]
GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_lines():
    """The lines the real console handler (LOGGING's formatter and filter) writes, parsed."""
    assert settings.LOG_FORMAT == "json", "the suite runs with DEBUG off, so JSON lines"
    (handler,) = (h for h in logging.getLogger().handlers if h.name == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        handler.setStream(previous)


def _lines_of(lines: list[dict], logger: str) -> list[dict]:
    return [line for line in lines if line["logger"] == logger]


@pytest.mark.urls("concertbooking.tests.log_urls")
def test_every_line_of_a_request_carries_the_id_the_response_returns(client, log_lines):
    response = client.get("/test/log-and-queue", {"text": "hello"})
    assert response.status_code == 200
    request_id = response.headers["X-Request-ID"]
    assert GENERATED.fullmatch(request_id)

    (line,) = _lines_of(log_lines(), "concertbooking.tests.log_urls")
    assert line["request_id"] == request_id
    assert line["message"] == "view says hello"
    assert line["level"] == "WARNING"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["time"])

    # Django's own line for an error answer, written deep in the handler, carries it too.
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    (line,) = _lines_of(log_lines(), "django.request")
    assert line["message"] == "Not Found: /api/no-such-thing"
    assert line["request_id"] == response.headers["X-Request-ID"] != request_id

    # Outside a request there is no id, and the last request's does not linger.
    logging.getLogger("after").warning("between requests")
    assert _lines_of(log_lines(), "after")[0]["request_id"] is None


def test_an_exception_is_logged_with_its_text(log_lines):
    try:
        {}["missing"]
    except KeyError:
        logging.getLogger("probe").exception("lookup failed")
    (line,) = _lines_of(log_lines(), "probe")
    assert line["level"] == "ERROR"
    assert line["exception"].startswith("Traceback")
    assert "KeyError: 'missing'" in line["exception"]


@pytest.mark.parametrize(
    "incoming",
    [
        "0123456789abcdef0123456789abcdef",  # nginx's $request_id
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "Root=1-67891233-abcdef012345678912345678",
        "a" * 128,
    ],
)
def test_a_sane_incoming_request_id_is_kept(client, log_lines, incoming):
    response = client.get("/api/no-such-thing", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    assert _lines_of(log_lines(), "django.request")[0]["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "a" * 129,
        "abc\ndef",
        "abc\r\nSet-Cookie: x=1",
        'say "hi"',
        "it's",
        "two words",
        "<b>",
        "é",
        "",
    ],
)
def test_an_insane_incoming_request_id_is_replaced(client, log_lines, incoming):
    response = client.get("/api/no-such-thing", headers={"X-Request-ID": incoming})
    assert response.status_code == 404
    request_id = response.headers["X-Request-ID"]
    assert GENERATED.fullmatch(request_id)
    assert _lines_of(log_lines(), "django.request")[0]["request_id"] == request_id


def _python_logs(env: dict, code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Django process on the test settings plus `env`."""
    return subprocess.run(
        [sys.executable, "-c", f"import django, logging; django.setup(); {code}"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "concertbooking.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_log_format_text_gives_plain_lines_and_json_gives_objects():
    code = "logging.getLogger('probe').warning('hello %s', 'there')"
    text = _python_logs({"LOG_FORMAT": "text"}, code)
    assert re.search(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING probe hello there$", text.stderr, re.M
    ), text.stderr
    assert "{" not in text.stderr

    as_json = _python_logs({"LOG_FORMAT": "json"}, code)
    lines = [json.loads(line) for line in as_json.stderr.splitlines()]
    assert {"logger": "probe", "message": "hello there", "level": "WARNING"}.items() <= lines[
        -1
    ].items()

    # With DEBUG on (make run) and nothing said, text; a warning is a log line like the rest.
    debug = _python_logs({"DEBUG": "1", "LOG_FORMAT": ""}, "import warnings; warnings.warn('hm')")
    assert re.search(r"^\S+ \S+ WARNING py.warnings .*UserWarning: hm$", debug.stderr, re.M)

    wrong = _python_logs({"LOG_FORMAT": "xml"}, "")
    assert wrong.returncode != 0
    assert "LOG_FORMAT must be json or text" in wrong.stderr


def _wait_for(predicate, *, timeout: float, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, f"{what} exited with {process.returncode}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def worker(tmp_path):
    """A real Celery worker on the suite's broker that also knows the logging test task; its
    output (stdout and stderr) goes to a file, read back as lines."""
    db = settings.DATABASES["default"]
    test_db = db.get("TEST", {}).get("NAME") or f"test_{db['NAME']}"
    log_path = tmp_path / "worker.log"
    log = log_path.open("w")  # a file, not a pipe nobody reads while it runs
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "concertbooking",
            "--quiet",
            "worker",
            "--pool=solo",
            "--include=concertbooking.tests.logged_task",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            # It queries nothing; were it to, never the site's own database.
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{test_db}",
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "LOG_FORMAT": "json",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def lines() -> list[str]:
        return log_path.read_text().splitlines()

    try:
        _wait_for(
            lambda: any("ready." in line for line in lines()),
            timeout=60,
            process=process,
            what="the worker",
        )
        yield process, lines
    finally:
        process_group_stop(process)
        log.close()


@pytest.mark.slow
@pytest.mark.urls("concertbooking.tests.log_urls")
def test_a_task_queued_by_a_request_logs_its_id_in_a_real_worker(client, worker):
    from concertbooking.tests.logged_task import log_line

    process, lines = worker
    response = client.get("/test/log-and-queue", {"text": "from-a-request"})
    request_id = response.headers["X-Request-ID"]
    # Queued outside any request, as beat queues its tasks: each gets an id of its own.
    log_line.delay("from-beat-1")
    log_line.delay("from-beat-2")

    def said() -> dict[str, dict]:
        parsed = [json.loads(line) for line in lines()]
        return {
            line["message"]: line
            for line in parsed
            if line["logger"] == "concertbooking.tests.logged_task"
        }

    _wait_for(lambda: len(said()) == 3, timeout=30, process=process, what="the tasks")
    # Every line the worker wrote is a JSON object: its own, Celery's and the task's.
    parsed = [json.loads(line) for line in lines()]
    assert {"celery.apps.worker", "celery.app.trace"} <= {line["logger"] for line in parsed}

    lines_said = said()
    assert lines_said["task says from-a-request"]["request_id"] == request_id
    # Celery's own line for that task, written while it ran, carries it too.
    (succeeded,) = [
        line
        for line in parsed
        if line["logger"] == "celery.app.trace" and line["data"]["args"] == "('from-a-request',)"
    ]
    assert succeeded["request_id"] == request_id

    beat_ids = {lines_said[f"task says from-beat-{n}"]["request_id"] for n in (1, 2)}
    assert len(beat_ids) == 2 and request_id not in beat_ids
    assert all(GENERATED.fullmatch(beat_id) for beat_id in beat_ids)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def _serve_until_healthy(command: list[str], env: dict, tmp_path: Path, port: int):
    out, err = (tmp_path / "out.log").open("w"), (tmp_path / "err.log").open("w")
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if _get(port, "/api/health")[0] == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            if server.poll() is None:
                process_group_stop(server, timeout=15)
            raise AssertionError((tmp_path / "err.log").read_text())
        time.sleep(0.2)


@pytest.mark.slow
def test_gunicorn_writes_its_own_lines_and_the_apps_as_json_with_the_request_id(tmp_path):
    port = _free_port()
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        # The requests below query nothing; were they to, never the site's own database.
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/"
        + (db.get("TEST", {}).get("NAME") or f"test_{db['NAME']}"),
        "LOG_FORMAT": "json",
        "ACCESS_LOG": "1",
    }
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "-c",
        "gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "concertbooking.wsgi",
    ]
    server = _serve_until_healthy(command, env, tmp_path, port)
    try:
        sent = "0123456789abcdef0123456789abcdef"
        status, headers = _get(port, "/api/no-such-thing", {"X-Request-ID": sent})
        assert status == 404 and headers["X-Request-ID"] == sent
        status, headers = _get(port, "/api/no-such-thing", {"X-Request-ID": "x" * 200})
        assert status == 404 and GENERATED.fullmatch(made := headers["X-Request-ID"])
    finally:
        process_group_stop(server, timeout=15)

    errors = [json.loads(line) for line in (tmp_path / "err.log").read_text().splitlines()]
    access = [json.loads(line) for line in (tmp_path / "out.log").read_text().splitlines()]
    assert any(
        line["logger"] == "gunicorn.error" and line["message"].startswith("Booting worker")
        for line in errors
    )
    not_found = [line for line in errors if line["logger"] == "django.request"]
    assert [line["request_id"] for line in not_found] == [sent, made]
    requests = [line for line in access if "/api/no-such-thing" in line["message"]]
    assert {line["logger"] for line in requests} == {"gunicorn.access"}
    assert [line["request_id"] for line in requests] == [sent, made]


@pytest.mark.slow
def test_make_run_prints_plain_lines(tmp_path):
    """`make run` sets DEBUG=1 and no LOG_FORMAT: runserver's lines and the app's are text."""
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "QUEUE_REDIS_URL", "CELERY_BROKER_URL", "LOG_FORMAT"}
    }
    env.update(DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    server = _serve_until_healthy(
        [*manage, "run_local", f"127.0.0.1:{port}", "--noreload"], env, tmp_path, port
    )
    try:
        status, headers = _get(port, "/api/no-such-thing")
        assert status == 404 and GENERATED.fullmatch(headers["X-Request-ID"])
    finally:
        process_group_stop(server, timeout=15)

    output = (tmp_path / "out.log").read_text() + (tmp_path / "err.log").read_text()
    not_found = r"^\S+ \S+ WARNING django.request Not Found: /api/no-such-thing$"
    assert re.search(not_found, output, re.M), output
    assert '"GET /api/health HTTP/1.1" 200' in output  # runserver's own line
    assert not [line for line in output.splitlines() if line.startswith("{")], output
