"""Shared API plumbing: the exception handler behind every `{"code", "detail"}` answer, and the
schema pieces every view documents its answers with."""

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import exceptions, pagination, serializers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from concertbooking.errors import ApplicationError

# DRF's default codes, renamed where ours read better; the rest pass through unchanged.
_DRF_CODES = {
    "invalid": "invalid",
    "parse_error": "malformed_request",
    # A throttle's refusal carries the code every other limit uses (concertbooking.limits).
    "throttled": "rate_limited",
}


def _first_message(detail: Any) -> str:
    """The first human-readable message of a (possibly nested) DRF error structure."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key == "non_field_errors" else f"{key}: {message}"
        return "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


def _field_errors(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _field_errors(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_field_errors(value) for value in detail]
    return str(detail)


def error_response(exc: ApplicationError) -> Response:
    response = Response(exc.as_dict(), status=exc.status_code)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Render every error as `{"code", "detail"}`; unknown exceptions stay 500s (they are bugs)."""
    if isinstance(exc, ApplicationError):
        set_rollback()
        return error_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    set_rollback()

    if isinstance(exc, exceptions.ValidationError):
        body = {
            "code": "invalid",
            "detail": _first_message(exc.detail),
            "fields": _field_errors(exc.detail)
            if isinstance(exc.detail, dict)
            else {"non_field_errors": _field_errors(exc.detail)},
        }
        return Response(body, status=exc.status_code, headers=headers)
    code = exc.default_code
    return Response(
        {"code": _DRF_CODES.get(code, code), "detail": str(exc.detail)},
        status=exc.status_code,
        headers=headers,
    )


class StrictSerializer(serializers.Serializer):
    """Input serializer that refuses fields it does not know, so typos never pass silently."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}, code="unknown_field"
                )
        return super().to_internal_value(data)


_DATETIME = serializers.DateTimeField()


def api_datetime(value: datetime) -> str:
    """`value` as the API renders a time, for answers stored before they are sent (replays)."""
    return _DATETIME.to_representation(value)


# Exempt: an unsafe call to a path no view answers is a 404, not CSRF's HTML 403 for a cookie.
@csrf_exempt
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Unmatched /api/ paths (including malformed ids) answer JSON, never an HTML page."""
    return JsonResponse({"code": "not_found", "detail": "No such endpoint."}, status=404)


def api_bad_request(request, exception=None) -> JsonResponse:
    """What Django itself refuses before any view runs (a body above
    DATA_UPLOAD_MAX_MEMORY_SIZE, a Host not allowed), as JSON."""
    if isinstance(exception, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        body = {"code": "request_too_large", "detail": "The request body is too large."}
    else:
        body = {"code": "bad_request", "detail": "The request could not be understood."}
    return JsonResponse(body, status=400)


def api_server_error(request, *args, **kwargs) -> JsonResponse:
    return JsonResponse(
        {"code": "server_error", "detail": "Something went wrong on our side."}, status=500
    )


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else: "5", 5.0 and true are refused rather than coerced."""

    default_error_messages = {"invalid": "A whole number is required."}

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


# The largest id a bigint primary key can hold; larger ones are refused as input, not looked up.
ID_MAX = 2**63 - 1


class StrictSerializerSchema(OpenApiSerializerExtension):
    """A StrictSerializer's schema says what it does: fields it does not declare are refused."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        serializer_class = self.target if isinstance(self.target, type) else type(self.target)
        if not vars(serializer_class).get("__doc__"):
            schema.pop("description", None)  # inherited: StrictSerializer's, not the input's
        return {**schema, "additionalProperties": False}


class BodyRequiredSchema(AutoSchema):
    """For a view whose body is one of several shapes (a oneOf): drf-spectacular cannot tell
    from one that a body is needed at all, and the view refuses a request without one."""

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body:
            body["required"] = True
        return body


class PagePagination(pagination.PageNumberPagination):
    """The API's page-number pagination: `?page=` and `?page_size=` as whole numbers only."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    last_page_strings = ()

    def get_page_number(self, request, paginator) -> int:
        number = request.query_params.get(self.page_query_param, "1")
        # int() alone would read " 1", "+1", "1_0" and "١" as well; the schema promises digits.
        if not (number.isascii() and number.isdigit()):
            raise exceptions.NotFound(self.invalid_page_message)
        return int(number)

    def get_page_size(self, request) -> int:
        size = request.query_params.get(self.page_size_query_param)
        if size is None:
            return self.page_size
        # Refused rather than DRF's silent default, so a typo never looks like a short list.
        if not (size.isascii() and size.isdigit() and 1 <= int(size) <= self.max_page_size):
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(size)


PAGE_PARAMETERS = [
    OpenApiParameter(
        PagePagination.page_query_param,
        {"type": "integer", "minimum": 1},
        OpenApiParameter.QUERY,
        description="Page number, from 1; past the last page is a 404.",
    ),
    OpenApiParameter(
        PagePagination.page_size_query_param,
        {"type": "integer", "minimum": 1, "maximum": PagePagination.max_page_size},
        OpenApiParameter.QUERY,
        description=f"Results per page (default {PagePagination.page_size}).",
    ),
]


def page_of(name: str, item: type[serializers.Serializer]) -> serializers.Serializer:
    """The schema of a PagePagination response whose results are `item`s."""
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(min_value=0),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


class ErrorOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable: act on this.")
    detail = serializers.CharField(help_text="For people; the wording may change.")


class InvalidInputOutput(ErrorOutput):
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="With code `invalid`: the messages per refused field; `non_field_errors` "
        "for the body as a whole.",
    )


class ForbiddenOutput(ErrorOutput):
    position = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="With code `queue_not_admitted`: the place in the queue, 1 = next; null in a "
        "pre-queue before the draw.",
    )


class ConflictOutput(ErrorOutput):
    opens_at = serializers.DateTimeField(
        required=False, help_text="With code `sale_not_open`: when the queue opens."
    )
    seat_ids = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="With code `seat_unavailable` for a party's hold: the seats already taken.",
    )


_ERROR_RESPONSES = {
    400: OpenApiResponse(
        InvalidInputOutput,
        "Refused input: `invalid` (see `fields`), `malformed_request`, `request_too_large`, or "
        "this operation's own code.",
    ),
    401: OpenApiResponse(
        ErrorOutput,
        "No credentials (`not_authenticated`) or a bad API token (`authentication_failed`).",
    ),
    403: OpenApiResponse(
        ForbiddenOutput,
        "Refused by the queue (`queue_token_required`, `queue_token_invalid`, "
        "`queue_token_wrong_room` for a token of another concert's room, `queue_not_admitted` "
        "with `position`), or `permission_denied` (a session call without "
        "its CSRF token).",
    ),
    404: OpenApiResponse(ErrorOutput, "No such resource or page (`code` says which)."),
    409: OpenApiResponse(
        ConflictOutput,
        "The current state forbids it (`code` says why; `sale_not_open` gives `opens_at`).",
    ),
    410: OpenApiResponse(ErrorOutput, "No longer available (`code` says what)."),
    415: OpenApiResponse(ErrorOutput, "The body is not JSON (`unsupported_media_type`)."),
    422: OpenApiResponse(
        ErrorOutput, "This Idempotency-Key came with another body (`idempotency_key_reused`)."
    ),
    429: OpenApiResponse(
        ErrorOutput,
        "A limit was reached (`rate_limited`, `locked_out` after repeated wrong passwords, or "
        "this operation's own code): retry after `Retry-After` seconds.",
    ),
    503: OpenApiResponse(
        ErrorOutput,
        "The waiting room is briefly unavailable (`queue_unavailable`): retry after "
        "`Retry-After` seconds.",
    ),
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error answers of an operation, for `extend_schema(responses=...)`: every one is
    `{"code", "detail"}` as exception_handler renders it."""
    return {status: _ERROR_RESPONSES[status] for status in statuses}
