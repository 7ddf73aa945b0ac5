"""gunicorn settings for `make serve`; PORT and WEB_CONCURRENCY come from the environment."""

import os

bind = f"127.0.0.1:{os.environ.get('PORT') or '8000'}"
workers = int(os.environ.get("WEB_CONCURRENCY") or "3")
worker_class = "sync"
# Recycle workers now and then so a slow leak never grows unbounded.
max_requests = 20000
max_requests_jitter = 2000
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"


# --- Logs: gunicorn's own lines (errors; access lines when GUNICORN_ACCESS_LOG names a place)
# go where gunicorn sends them, in the app's LOG_FORMAT, with the request's id on access lines.
from gunicorn.glogging import Logger as _GunicornLogger  # noqa: E402


class _AppFormatLogger(_GunicornLogger):
    def setup(self, cfg):
        super().setup(cfg)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertbooking.settings")
        from concertbooking.logs import handler_adopt

        for handler in self.error_log.handlers + self.access_log.handlers:
            handler_adopt(handler)


logger_class = _AppFormatLogger


# --- Metrics: workers share PROMETHEUS_MULTIPROC_DIR (concertbooking.metrics) -----------------
def on_starting(server):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertbooking.settings")
    from concertbooking.metrics import server_start

    server_start()


def child_exit(server, worker):
    from concertbooking.metrics import worker_exit

    worker_exit(worker.pid)
