"""Production settings: refused at start when they only suit a laptop or a test, and
`check --deploy` clean when set as the README says."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": STRONG_KEY,
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/concertbooking",
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "ALLOWED_HOSTS": "tickets.example.com",
    # A gateway that takes real money: the sandbox is refused here (payments' own test).
    "PAYMENT_GATEWAY": "deferred",
    "PAYMENT_GATEWAY_SECRET": "callback-signing-secret",
}


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    # Only what the test names: no variable of the suite's own environment leaks in.
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _starts(**env: str) -> subprocess.CompletedProcess:
    return _run(
        ["-c", "import django; django.setup()"],
        DJANGO_SETTINGS_MODULE="concertbooking.settings",
        **env,
    )


def test_production_settings_start():
    assert _starts(**PRODUCTION).returncode == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"DATABASE_URL": None}, "DATABASE_URL is not set"),
        ({"REDIS_URL": None}, "REDIS_URL is not set"),
        ({"SECRET_KEY": "short-but-set"}, "SECRET_KEY is weak"),
        ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY is weak"),  # long, two distinct characters
        ({"SECRET_KEY": "django-insecure-" + STRONG_KEY}, "SECRET_KEY is weak"),
        ({"ALLOWED_HOSTS": "tickets.example.com,testserver"}, "names testserver"),
        ({"PAYMENT_GATEWAY": "sandbox"}, "PAYMENT_GATEWAY_SANDBOX_ALLOWED=1"),
        ({"PAYMENT_GATEWAY": None}, "PAYMENT_GATEWAY is 'sandbox'"),  # the default
    ],
    ids=[
        "no-database",
        "no-redis",
        "short-key",
        "repetitive-key",
        "insecure-key",
        "testserver",
        "sandbox",
        "sandbox-by-default",
    ],
)
def test_a_start_with_a_laptop_setting_stops_with_a_clear_message(change, message):
    env = {**PRODUCTION, **change}
    started = _starts(**{k: v for k, v in env.items() if v is not None})
    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr and message in started.stderr


def test_every_problem_is_named_at_once():
    started = _starts(DEBUG="0", SECRET_KEY="weak")
    assert "DATABASE_URL" in started.stderr and "REDIS_URL" in started.stderr
    assert "PAYMENT_GATEWAY is 'sandbox'" in started.stderr
    assert "SECRET_KEY is weak" in started.stderr


def test_the_sandbox_starts_where_a_test_stack_allows_it():
    env = {**PRODUCTION, "PAYMENT_GATEWAY": "sandbox", "PAYMENT_GATEWAY_SANDBOX_ALLOWED": "1"}
    assert _starts(**env).returncode == 0


def test_with_debug_on_a_laptop_needs_nothing():
    assert _starts(DEBUG="1").returncode == 0


def test_check_deploy_passes_with_the_documented_https_settings():
    checked = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        **PRODUCTION,
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        SECURE_SSL_REDIRECT="1",
        SECURE_COOKIES="1",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        SECURE_HSTS_PRELOAD="1",
        TRUSTED_PROXY_COUNT="1",
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues" in checked.stdout


def test_check_deploy_warns_without_them():
    checked = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert checked.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in checked.stdout + checked.stderr
