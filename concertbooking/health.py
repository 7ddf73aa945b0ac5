"""Liveness (a plain endpoint, and the baseline every benchmark compares to) and readiness."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from concertbooking.errors import ServiceUnavailable
from concertbooking.readiness import readiness


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses=inline_serializer("Health", {"status": serializers.CharField()}),
        operation_id="health",
    )
    def get(self, request):
        return Response({"status": "ok"})


class ReadyApi(APIView):
    """Readiness for a load balancer or an orchestrator: may this process take traffic now?"""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer(
                "Ready",
                {
                    "status": serializers.CharField(help_text='"ready"'),
                    "checks": serializers.DictField(child=serializers.CharField()),
                },
            ),
            503: OpenApiResponse(
                inline_serializer(
                    "NotReady",
                    {
                        "code": serializers.CharField(help_text='"not_ready"'),
                        "detail": serializers.CharField(),
                        "checks": serializers.DictField(
                            child=serializers.CharField(),
                            help_text='Per check ("database", "queue_redis", "cache", "broker", '
                            '"beat"): "ok" or why it failed.',
                        ),
                    },
                ),
                "A dependency failed or did not answer within a second: `checks` says which.",
            ),
        },
        operation_id="ready",
        description="Checks PostgreSQL, the queue's Redis, the cache, the Celery broker and the "
        "beat heartbeat at once, each with a one-second timeout; probes within a second of "
        "each other share one outcome.",
    )
    def get(self, request):
        checks = readiness()
        failed = [name for name, outcome in checks.items() if outcome != "ok"]
        if failed:
            raise ServiceUnavailable(
                f"Not ready: {', '.join(failed)}.", code="not_ready", checks=checks
            )
        return Response({"status": "ready", "checks": checks})
