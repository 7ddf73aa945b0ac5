"""DATABASE_PGBOUNCER: what Django must not do behind PgBouncer in transaction mode is off."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The connection parameters Django would open a connection with, and the cursor settings.
PROBE = """
import json, django, psycopg
django.setup()
from django.db import connection
params = connection.get_connection_params()
print(json.dumps({
    "server_side_cursors": not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"),
    "prepare_threshold": params.get("prepare_threshold", "unset"),
    "client_side_binding": issubclass(params["cursor_factory"], psycopg.ClientCursor),
    "conn_max_age": connection.settings_dict["CONN_MAX_AGE"],
}))
"""


def _database(**env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    env = {
        "DJANGO_SETTINGS_MODULE": "concertbooking.settings",
        "DEBUG": "1",
        "DATABASE_URL": "postgres://app@127.0.0.1:6432/concertbooking",
        **env,
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env={**base, **env},
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return json.loads(out)


def test_behind_pgbouncer_no_server_side_cursor_and_no_prepared_statement():
    assert _database(DATABASE_PGBOUNCER="1") == {
        "server_side_cursors": False,
        "prepare_threshold": None,
        # psycopg sends each query with its values bound in: never a prepared statement.
        "client_side_binding": True,
        "conn_max_age": 60,
    }


def test_without_it_only_the_cursors_differ():
    assert _database() == {
        "server_side_cursors": True,
        "prepare_threshold": None,
        "client_side_binding": True,
        "conn_max_age": 60,
    }
