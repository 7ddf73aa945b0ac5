"""What the request-id middleware adds to a request, in-process.

GET /api/health through Django's WSGI handler and the whole middleware stack, with it, without it
and with django-guid's own middleware in its place; then each middleware alone around a view that
returns at once, which isolates its own cost from the noise of the whole stack. Rounds interleave
the variants in a fresh order each time and count CPU time (the machine is shared). Needs no
server, database or Redis.
"""

import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertbooking.settings")
# Production-like settings; /api/health touches neither the database nor Redis.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/concertbooking")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-but-long-enough")
os.environ.setdefault("PAYMENT_GATEWAY_SANDBOX_ALLOWED", "1")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import RequestFactory, override_settings  # noqa: E402
from django_guid.middleware import guid_middleware  # noqa: E402

from concertbooking.logs import RequestIdMiddleware  # noqa: E402

OURS = "concertbooking.logs.RequestIdMiddleware"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
PER_ROUND = int(os.environ.get("BENCH_REQUESTS", "2000"))


def _handler(middleware: list[str]) -> WSGIHandler:
    with override_settings(MIDDLEWARE=middleware):
        return WSGIHandler()


def _environ(**headers: str) -> dict:
    return RequestFactory().get("/api/health", HTTP_HOST="127.0.0.1", **headers).environ


def _round(handler: WSGIHandler, environ: dict) -> float:
    """CPU seconds per request over PER_ROUND requests."""

    def start_response(status, headers, exc_info=None):
        assert status.startswith("200"), status

    started = time.process_time()
    for _ in range(PER_ROUND):
        handler(dict(environ), start_response).close()
    return (time.process_time() - started) / PER_ROUND


def _alone(middleware, request, n: int = 200_000) -> float:
    """CPU seconds one call of `middleware` adds to a view that returns a ready response."""
    response = HttpResponse()
    chain = middleware(lambda request: response)
    started = time.process_time()
    for _ in range(n):
        chain(request)
    return (time.process_time() - started) / n


def main() -> None:
    without = [m for m in settings.MIDDLEWARE if m != OURS]
    guid = [
        "django_guid.middleware.guid_middleware" if m == OURS else m for m in settings.MIDDLEWARE
    ]
    plain, incoming = _environ(), _environ(HTTP_X_REQUEST_ID="0123456789abcdef0123456789abcdef")
    variants = {
        "without": (_handler(without), plain),
        "ours, id generated": (_handler(settings.MIDDLEWARE), plain),
        "ours, id from header": (_handler(settings.MIDDLEWARE), incoming),
        "django-guid, id generated": (_handler(guid), plain),
        "django-guid, id from header": (_handler(guid), incoming),
    }
    for handler, environ in variants.values():
        _round(handler, environ)  # warm up
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for _ in range(ROUNDS):
        random.shuffle(order)
        for name in order:
            times[name].append(_round(*variants[name]))
    base = statistics.median(times["without"])
    print(f"{ROUNDS} rounds x {PER_ROUND} GET /api/health, median CPU us per request")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"  {name:30s} {median * 1e6:7.1f}  ({(median - base) * 1e6:+.1f})")
    print("alone, median CPU us per call")
    factory = RequestFactory()
    requests = {
        "id generated": factory.get("/api/health"),
        "id from header": factory.get("/api/health", HTTP_X_REQUEST_ID="0123456789abcdef" * 2),
    }
    for label, middleware in (("ours", RequestIdMiddleware), ("django-guid", guid_middleware)):
        for case, request in requests.items():
            median = statistics.median(_alone(middleware, request) for _ in range(7))
            print(f"  {label + ', ' + case:30s} {median * 1e6:7.2f}")


if __name__ == "__main__":
    main()
