"""Readiness's database check through a real PgBouncer in transaction mode (Debian's package,
scripts/ensure_tool.sh), beside the control: the startup parameter the check once sent to
set its statement timeout is refused there."""

import contextlib
import copy
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from concertbooking.heartbeat import heartbeat_mark

PGBOUNCER = os.environ.get("PGBOUNCER_PATH", "/usr/sbin/pgbouncer")


def _spare_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture(scope="module")
def pgbouncer():
    """A PgBouncer of our own on a spare loopback port, in front of the suite's PostgreSQL: trust
    authentication, transaction pooling, one server connection (so anything a client leaves set
    on it would show in the next client's session). Returns its host and port."""
    if not os.access(PGBOUNCER, os.X_OK):
        pytest.skip(f"PgBouncer is not installed at {PGBOUNCER} (scripts/ensure_tool.sh)")
    from django.conf import settings

    db = settings.DATABASES["default"]
    port = _spare_port()
    workdir = Path(tempfile.mkdtemp(prefix="cb-pgbouncer-"))
    workdir.chmod(0o755)  # PgBouncer will not run as root: as root it reads this as `postgres`
    (workdir / "userlist.txt").write_text(f'"{db["USER"]}" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir / 'userlist.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 1\n"
    )
    for path in workdir.iterdir():
        path.chmod(0o644)
    command = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "postgres"]
    log = workdir / "pgbouncer.log"  # its own log goes to stderr
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"PgBouncer did not start: {log.read_text()}")
            time.sleep(0.05)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _connect(pgbouncer, **params) -> psycopg.Connection:
    from django.conf import settings

    db = settings.DATABASES["default"]
    host, port = pgbouncer
    return psycopg.connect(
        host=host, port=port, dbname=db["NAME"], user=db["USER"], connect_timeout=5, **params
    )


@pytest.mark.django_db
def test_control_pgbouncer_refuses_a_startup_statement_timeout(pgbouncer):
    with _connect(pgbouncer) as plain:  # PgBouncer itself lets us through
        assert plain.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter"):
        _connect(pgbouncer, options="-c statement_timeout=1000")


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_the_database_check_passes_through_pgbouncer(api_client, settings, pgbouncer):
    """GET /api/ready with DATABASES pointed at PgBouncer as DATABASE_PGBOUNCER=1 would have it:
    ready, and its statement timeout did not outlive the check's own transaction."""
    heartbeat_mark()
    databases = copy.deepcopy(settings.DATABASES)
    host, port = pgbouncer
    databases["default"].update(HOST=host, PORT=str(port), DISABLE_SERVER_SIDE_CURSORS=True)
    databases["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
    settings.DATABASES = databases

    response = api_client.get("/api/ready")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["database"] == "ok"
    # One server connection behind PgBouncer: the next client gets the one the check used.
    with _connect(pgbouncer) as after:
        assert after.execute("SHOW statement_timeout").fetchone() == ("0",)
