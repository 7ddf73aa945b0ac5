"""gunicorn settings for `make serve`, the Procfile's web process and the Docker image.

The bind and the sizes are settings (HOST, PORT, WEB_CONCURRENCY, WEB_THREADS, ACCESS_LOG):
they come from concertbooking.settings, the one module that reads the environment.
"""

import os

from concertbooking import settings

bind = f"{settings.HOST}:{settings.PORT}"
# Threads with keep-alive, chosen side by side with sync workers, granian and nginx in front
# (docs/performance.md, "The app server"). A client sending its request slowly holds a thread
# until it is in: production puts nginx in front (deploy/nginx.conf), which reads it first.
worker_class = "gthread"
workers = settings.WEB_CONCURRENCY
# Each thread keeps its own PostgreSQL connection (CONN_MAX_AGE) for the worker's lifetime.
threads = settings.WEB_THREADS
keepalive = 5
# A listening socket per worker (SO_REUSEPORT): the kernel spreads new connections over the
# workers, where on one shared socket the first worker awake took most of them and kept them
# alive on one core. A recycled worker drops the connections still queued on its socket
# unless the host sets net.ipv4.tcp_migrate_req=1.
reuse_port = True
# Recycle workers now and then so a slow leak never grows unbounded.
max_requests = 20000
max_requests_jitter = 2000
timeout = 30
graceful_timeout = 10
accesslog = "-" if settings.ACCESS_LOG else None
errorlog = "-"


# --- Logs: gunicorn's own lines (errors; access lines with ACCESS_LOG on) in the app's
# LOG_FORMAT, with the request's id on access lines.
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
