"""The project's routes plus the floor endpoints: the cheapest views that do one kind of I/O each.

bench_api.py measures them beside the booking flow, so each flow call can be read against the
cheapest endpoint that does the same kind of work. Shaped like HealthApi (same renderer, same
body); only what each name says is added.
"""

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from concertbooking.redis import queue_redis
from concertbooking.urls import handler400, handler500
from concertbooking.urls import urlpatterns as project_urlpatterns

# Registering only hashes the source; the first EVALSHA in a worker loads it (as queueing.store).
_ONE = queue_redis().register_script("return 1")


def _one_redis_call() -> None:
    # The client queueing.store runs its scripts on; no keys, nothing for Redis to do.
    _ONE(client=queue_redis())


class RedisFloorApi(APIView):
    """One Redis round trip: EVALSHA of a trivial script."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        _one_redis_call()
        return Response({"status": "ok"})


class AuthFloorApi(APIView):
    """The default authentication and permission classes, no other I/O."""

    def get(self, request):
        return Response({"status": "ok"})


class AuthRedisFloorApi(APIView):
    """Authentication plus one EVALSHA: what GET /api/queue/tokens/current cannot go below."""

    def get(self, request):
        _one_redis_call()
        return Response({"status": "ok"})


class PostgresFloorApi(APIView):
    """One SELECT 1 (CONN_HEALTH_CHECKS adds its own before a request's first query)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return Response({"status": "ok"})


# No value changes (last_login = last_login), but PostgreSQL still writes a new row version, so
# the commit flushes WAL as a hold's does. A row per user, so the workers never wait on one lock.
_TOUCH_USER = (
    f"UPDATE {connection.ops.quote_name(get_user_model()._meta.db_table)} "
    "SET last_login = last_login WHERE id = %s"
)


class PostgresWriteFloorApi(APIView):
    """One short write transaction: BEGIN, one single-row UPDATE, COMMIT."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request, user_id: int):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_TOUCH_USER, [user_id])
            updated = cursor.rowcount
        # A missing row would measure a transaction that writes nothing: make it visible.
        return Response({"status": "ok"}, status=200 if updated == 1 else 404)


class HoldFloorApi(APIView):
    """The I/O a hold cannot do without, and nothing else: authentication, one EVALSHA (the
    gate's check), one single-statement write in autocommit (its own transaction, one round
    trip, a WAL flush at commit) and one EVALSHA after it (the catalog's bump). No body, no
    validation, no business logic: what a hold could score if its Python cost nothing beyond
    its I/O."""

    def get(self, request, user_id: int):
        _one_redis_call()
        with connection.cursor() as cursor:
            cursor.execute(_TOUCH_USER, [user_id])
            updated = cursor.rowcount
        _one_redis_call()
        return Response({"status": "ok"}, status=200 if updated == 1 else 404)


urlpatterns = [
    path("bench/floor/redis", RedisFloorApi.as_view()),
    path("bench/floor/auth", AuthFloorApi.as_view()),
    path("bench/floor/auth-redis", AuthRedisFloorApi.as_view()),
    path("bench/floor/postgres", PostgresFloorApi.as_view()),
    path("bench/floor/postgres-write/<id:user_id>", PostgresWriteFloorApi.as_view()),
    path("bench/floor/hold-io/<id:user_id>", HoldFloorApi.as_view()),
    *project_urlpatterns,
]

__all__ = ["handler400", "handler500", "urlpatterns"]
