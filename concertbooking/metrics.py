"""Prometheus metrics: requests by view, plus figures each app reads at scrape time.

Request counts and latencies are kept by this process (in PROMETHEUS_MULTIPROC_DIR when several
server processes share a site, so a scrape of any of them sees all). Queue, sales and outbox
figures are not kept here at all: the collectors that apps register with `collector_register`
read them from Redis and PostgreSQL when /metrics is asked.
"""

from __future__ import annotations

import glob
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict

from concertbooking.errors import ApplicationError

logger = logging.getLogger(__name__)
# A *_created series per counter says when this process began counting: noise beside the counts,
# and multiprocess mode has none.
disable_created_metrics()
if settings.PROMETHEUS_MULTIPROC_DIR:
    # Each worker writes its file there on its first request: a missing directory would fail it.
    os.makedirs(settings.PROMETHEUS_MULTIPROC_DIR, exist_ok=True)

# Created without a registry: /metrics builds the one it answers from (see _registry).
REQUESTS = Counter(
    "concertbooking_http_requests",
    "Requests answered, by view (the URL pattern's name), method and status.",
    ["view", "method", "status"],
    registry=None,
)
LATENCY = Histogram(
    "concertbooking_http_request_duration_seconds",
    "Time from the first middleware after static files to the response, by view and method.",
    ["view", "method"],
    # The API answers in milliseconds; the tail up to ten seconds still gets buckets.
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=None,
)
# Any other method a client makes up counts as "other", so labels stay few.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Counts and times every request by the view it resolved to: the URL pattern's name, never
    the path, so the number of series stays fixed whatever clients ask for."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = request.resolver_match
        view = match.view_name if match is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        LATENCY.labels(view, method).observe(elapsed)
        REQUESTS.labels(view, method, str(response.status_code)).inc()
        return response


# --- Figures read at scrape time --------------------------------------------------------------

Collect = Callable[[], Iterable[Metric]]
_collectors: list[Collect] = []


def collector_register(collect: Collect) -> None:
    """Have `collect()` called on every scrape; each app registers its own in AppConfig.ready."""
    if collect not in _collectors:
        _collectors.append(collect)


class _AppFigures:
    """Every registered collector, one after the other; one that fails drops only its own
    families (it logs why), never the scrape."""

    def collect(self) -> Iterable[Metric]:
        for collect in list(_collectors):
            try:
                families = list(collect())
            except (DatabaseError, ApplicationError) as exc:
                # A store that is away: readiness says so; one line per scrape is enough.
                logger.warning("metrics collector %s: %s", collect.__qualname__, exc)
                continue
            except Exception:
                logger.exception("metrics collector %s failed", collect.__qualname__)
                continue
            yield from families


_registry_lock = threading.Lock()
_registries: dict[str, CollectorRegistry] = {}


def _registry() -> CollectorRegistry:
    directory = settings.PROMETHEUS_MULTIPROC_DIR
    with _registry_lock:
        registry = _registries.get(directory)
        if registry is None:
            registry = CollectorRegistry(auto_describe=False)
            if directory:
                multiprocess.MultiProcessCollector(registry, path=directory)
            else:
                registry.register(REQUESTS)
                registry.register(LATENCY)
            registry.register(_AppFigures())
            _registries[directory] = registry
        return registry


def _refusal(status: int, code: str, detail: str) -> JsonResponse:
    response = JsonResponse({"code": code, "detail": detail}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


# Exempt: a POST gets this view's JSON 405, not CSRF's HTML 403.
@csrf_exempt
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. With METRICS_TOKEN set, only `Authorization: Bearer <token>`."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return _refusal(401, "not_authenticated", "The metrics need a bearer token.")
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            return _refusal(403, "permission_denied", "This token may not read the metrics.")
    if request.method not in ("GET", "HEAD"):
        return _refusal(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


# --- Several server processes: one directory, kept tidy by the server's hooks ------------------


def server_start() -> None:
    """Called once by the server before it starts its workers: the directory starts empty, so a
    new worker that gets an old pid does not carry on from a previous run's counts."""
    directory = settings.PROMETHEUS_MULTIPROC_DIR
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for path in glob.glob(os.path.join(directory, "*.db")):
        os.remove(path)


def worker_exit(pid: int) -> None:
    """Called by the server when worker `pid` has exited: its counts are folded into one archive
    file per type, so the totals stay and the directory does not grow with every recycled
    worker (the scrape reads every file)."""
    directory = settings.PROMETHEUS_MULTIPROC_DIR
    if not directory:
        return
    multiprocess.mark_process_dead(pid, directory)
    for kind in ("counter", "histogram"):
        dead = os.path.join(directory, f"{kind}_{pid}.db")
        if not os.path.exists(dead):
            continue
        archive = MmapedDict(os.path.join(directory, f"{kind}_archive.db"))
        try:
            for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(dead):
                total, _ = archive.read_value(key)
                archive.write_value(key, total + value, timestamp)
        finally:
            archive.close()
        os.remove(dead)
