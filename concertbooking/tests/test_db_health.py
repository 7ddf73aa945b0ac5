"""The per-request connection health check (concertbooking.postgresql), on the real server."""

import time

import psycopg
import pytest
from django.core.signals import request_finished, request_started
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def next_request() -> None:
    """What gunicorn's request boundary does to the worker's connection."""
    request_finished.send(sender=None)
    request_started.send(sender=None)


def last_query(pid: int) -> str:
    """What the backend `pid` ran last, seen from a connection of its own."""
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        row = other.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    return row[0]


def terminate(pid: int) -> None:
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_the_settings_turn_health_checks_on_for_persistent_connections():
    assert connection.settings_dict["ENGINE"] == "concertbooking.postgresql"
    assert connection.health_check_enabled and connection.settings_dict["CONN_MAX_AGE"] > 0


def test_a_sound_idle_connection_is_checked_without_a_round_trip():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'the last statement sent'")
    pid = connection.connection.info.backend_pid
    next_request()
    with connection.cursor():
        pass  # the check runs here, before the request's first statement
    assert connection.health_check_done
    assert last_query(pid) == "SELECT 'the last statement sent'"
    # Control: Django's own check sends SELECT 1, which pg_stat_activity shows.
    assert connection.is_usable()
    assert last_query(pid) == "SELECT 1"


def test_a_terminated_session_is_replaced_before_the_next_request_uses_it():
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    terminate(pid)
    deadline = time.monotonic() + 5
    while connection._idle_and_quiet() and time.monotonic() < deadline:
        time.sleep(0.01)  # the server's notice is on its way
    next_request()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        new_pid = cursor.fetchone()[0]
    assert new_pid != pid


def test_a_connection_left_inside_a_transaction_gets_the_full_check():
    connection.ensure_connection()
    connection.connection.execute("BEGIN")
    try:
        assert not connection._idle_and_quiet()
    finally:
        connection.connection.execute("ROLLBACK")
    assert connection._idle_and_quiet()
