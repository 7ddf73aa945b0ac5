"""A plain endpoint: liveness for load balancers, and the baseline every benchmark compares to."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses=inline_serializer("Health", {"status": serializers.CharField()}),
        operation_id="health",
    )
    def get(self, request):
        return Response({"status": "ok"})
