"""Authentication API for clients that do not use the session."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from concertbooking.api import StrictSerializer, error_responses
from concertbooking.limits import SignInThrottle


class TokenObtainApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [SignInThrottle]
    throttle_scope = "signin"

    class Input(StrictSerializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(
        request=Input,
        responses={
            200: inline_serializer("TokenOutput", {"token": serializers.CharField()}),
            **error_responses(400, 415, 429),
        },
        operation_id="auth_token",
    )
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        token = services.token_obtain(**data.validated_data, request=request)
        return Response({"token": token})
