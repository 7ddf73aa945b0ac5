"""The project's routes plus the floor endpoints bench_api.py reads each booking-flow call against.

A floor does only the I/O its call cannot avoid, through the same stack: Django's handler, the
middleware, URL dispatch, DRF with the default authentication, permission and renderer, and the
body HealthApi answers. Their Redis calls are EVALSHA of a trivial script on the client the app
uses for that call; their SQL touches only the caller's own user row, so no two workers wait on
one lock.
"""

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.urls import path, re_path
from django_redis import get_redis_connection
from rest_framework.response import Response
from rest_framework.views import APIView

from concertbooking.redis import queue_redis
from concertbooking.urls import handler400, handler500
from concertbooking.urls import urlpatterns as project_urlpatterns

# Registering only hashes the source; the first EVALSHA in a worker loads it (as queueing.store).
_TRIVIAL = "return 1"
_QUEUE_SCRIPT = queue_redis().register_script(_TRIVIAL)
_CACHE_SCRIPT = get_redis_connection("default").register_script(_TRIVIAL)


def _queue_call() -> None:
    """One round trip on the queue's client, as the gate check or a queue script makes."""
    _QUEUE_SCRIPT(client=queue_redis())


def _cache_call() -> None:
    """One round trip on the cache's client, as the catalog's cached read makes."""
    _CACHE_SCRIPT(client=get_redis_connection("default"))


class QueueCallFloorApi(APIView):
    """Authentication plus one EVALSHA: a token issue (POST) or a poll (GET) cannot go below."""

    def get(self, request):
        _queue_call()
        return Response({"status": "ok"})

    post = get


class GatedReadFloorApi(APIView):
    """Authentication, the gate's EVALSHA and the cached read's EVALSHA: a catalog read's I/O."""

    def get(self, request):
        _queue_call()
        _cache_call()
        return Response({"status": "ok"})


_USER_TABLE = connection.ops.quote_name(get_user_model()._meta.db_table)
# One statement per kind the services run. The write changes no value (last_login = last_login),
# but PostgreSQL still writes a new row version, so the commit flushes WAL as a hold's does.
STATEMENTS = {
    "l": f"SELECT id FROM {_USER_TABLE} WHERE id = %s FOR NO KEY UPDATE",
    "r": f"SELECT id FROM {_USER_TABLE} WHERE id = %s",
    "w": f"UPDATE {_USER_TABLE} SET last_login = last_login WHERE id = %s",
}


class GatedWriteFloorApi(APIView):
    """Authentication, the gate's EVALSHA, then one transaction with a statement per letter of
    `shape` (l: locking read, r: read, w: write), each on the caller's own user row."""

    def post(self, request, shape: str):
        _queue_call()
        with transaction.atomic(), connection.cursor() as cursor:
            for kind in shape:
                cursor.execute(STATEMENTS[kind], [request.user.pk])
        return Response({"status": "ok"})


urlpatterns = [
    path("bench/floor/queue-call", QueueCallFloorApi.as_view()),
    path("bench/floor/gated-read", GatedReadFloorApi.as_view()),
    re_path(r"^bench/floor/gated-write/(?P<shape>[lrw]{1,20})$", GatedWriteFloorApi.as_view()),
    *project_urlpatterns,
]

__all__ = ["handler400", "handler500", "urlpatterns"]
