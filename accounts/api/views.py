"""Authentication API for clients that do not use the session: API tokens and the password."""

from django.contrib.auth import update_session_auth_hash
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.authentication import CachedTokenAuthentication
from concertbooking.api import (
    PAGE_PARAMETERS,
    PagePagination,
    StrictSerializer,
    error_responses,
    page_of,
)
from concertbooking.limits import SignInThrottle

_TOKEN_OUTPUT = inline_serializer("TokenOutput", {"token": serializers.CharField()})


class TokenObtainApi(APIView):
    """Two operations on one URL (Django routes by path only): sign in for a new token, and
    revoke the token the call is made with."""

    throttle_scope = "signin"

    class Input(StrictSerializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    def _signing_in(self) -> bool:
        return getattr(self.request, "method", None) == "POST"

    def get_authenticators(self):
        # Signing in reads no credentials, so a stale header never stands in the way.
        return [] if self._signing_in() else [CachedTokenAuthentication()]

    def get_permissions(self):
        return [AllowAny()] if self._signing_in() else [IsAuthenticated()]

    def get_throttles(self):
        # Sign-ins are counted per address and per username tried; a revocation is not one.
        return [SignInThrottle()] if self._signing_in() else []

    @extend_schema(
        request=Input,
        responses={200: _TOKEN_OUTPUT, **error_responses(400, 415, 429)},
        operation_id="auth_token",
    )
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        token = services.token_obtain(**data.validated_data, request=request)
        return Response({"token": token})

    @extend_schema(
        request=None,
        responses={204: None, **error_responses(401)},
        operation_id="auth_token_revoke_current",
    )
    def delete(self, request: Request) -> Response:
        services.api_token_revoke(user_id=request.user.pk, token_id=request.auth.token_key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenItemOutput(serializers.Serializer):
    id = serializers.CharField(source="token_key", help_text="The key's first characters.")
    created = serializers.DateTimeField()
    expires = serializers.DateTimeField(source="expiry")
    current = serializers.SerializerMethodField(help_text="The token this call is made with.")

    def get_current(self, token) -> bool:
        caller = self.context["request"].auth
        return caller is not None and caller.digest == token.digest


class TokenListApi(APIView):
    """Two operations on one URL: list the caller's API tokens (no key is ever shown again),
    and revoke them all."""

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: page_of("TokenPage", TokenItemOutput), **error_responses(400, 401, 404)},
        operation_id="auth_tokens_list",
    )
    def get(self, request: Request) -> Response:
        paginator = PagePagination()
        page = paginator.paginate_queryset(
            selectors.api_tokens_of(user_id=request.user.pk), request, view=self
        )
        return paginator.get_paginated_response(
            TokenItemOutput(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        request=None,
        responses={204: None, **error_responses(401, 403)},
        operation_id="auth_tokens_revoke_all",
    )
    def delete(self, request: Request) -> Response:
        services.api_tokens_revoke(user_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenRevokeApi(APIView):
    @extend_schema(
        request=None,
        responses={204: None, **error_responses(401, 403, 404)},
        operation_id="auth_token_revoke",
    )
    def delete(self, request: Request, token_id: str) -> Response:
        services.api_token_revoke(user_id=request.user.pk, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeInput(StrictSerializer):
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class PasswordChangeApi(APIView):
    """A new password revokes every API token; the answer carries a new one, and a session
    caller stays signed in."""

    @extend_schema(
        request=PasswordChangeInput,
        responses={200: _TOKEN_OUTPUT, **error_responses(400, 401, 403, 415, 429)},
        operation_id="auth_password_change",
    )
    def post(self, request: Request) -> Response:
        data = PasswordChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        token = services.user_password_change(
            user=request.user, **data.validated_data, request=request, api_token=True
        )
        if request.auth is None:  # signed in by the session cookie
            update_session_auth_hash(request, request.user)
        return Response({"token": token})
