"""The app server: granian's WSGI server, bound and sized by settings (`python -m
concertbooking.server`; the Procfile's web process and the Docker image run it).

Chosen side by side with gunicorn's sync and threaded workers, with and without nginx in front
(docs/performance.md, "The app server"). granian reads each request whole in its Rust event
loop before a Python thread sees it, and keeps idle keep-alive connections there, so slow
clients hold no thread; nginx in front (deploy/nginx.conf) still serves static files, buffers
answers and limits floods.
"""

from granian import Granian
from granian.constants import Interfaces

from concertbooking import settings

# A worker grown past this (MiB of resident memory) is replaced, so a slow leak never grows
# unbounded; one that dies is started again.
WORKER_MAX_RSS_MB = 1024


def server() -> Granian:
    return Granian(
        "concertbooking.wsgi:application",
        interface=Interfaces.WSGI,
        address=settings.HOST,
        port=settings.PORT,
        workers=settings.WEB_CONCURRENCY,
        # Each thread keeps its own PostgreSQL connection (CONN_MAX_AGE).
        blocking_threads=settings.WEB_THREADS,
        websockets=False,
        respawn_failed_workers=True,
        workers_max_rss=WORKER_MAX_RSS_MB,
        log_access=settings.ACCESS_LOG,
    )


if __name__ == "__main__":
    server().serve()
