"""The busiest API calls answered near the top of the middleware stack, before sessions, CSRF,
messages, URL dispatch and DRF's request handling.

While a queue is full, nearly every request is a waiting buyer's poll, and admitted buyers read
the catalog from Redis: calls whose own work is one Redis round trip. Through the whole stack such
a call cost twice what a plain Django request costs, most of it the stack itself. A view may
define `fast_get`, `fast_post` (a POST without a body) or `fast_post_json` (a POST with a JSON
body, given parsed) as a classmethod taking the request, the caller's API token key, the body
if any and the URL's arguments, that answers from the same services and selectors its DRF
handler calls. The middleware gives it only calls whose full-stack answer it can give byte for
byte:

- a GET, a POST without a body, or a POST whose body is at most MAX_PLAIN_BODY bytes of
  `Content-Type: application/json` exactly (no charset parameter) that the API's JSON parser
  reads, to an /api/ path with no query string and no cookies, so the session, CSRF and
  messages middleware would do nothing and only token authentication applies; a handler of a
  body takes only the exact body its DRF input accepts (plain_id) and leaves any other to DRF's
  validation;
- `Authorization: Token <key>`, read as DRF reads it, and an Accept that DRF's JSON renderer
  satisfies as it stands (none, `*/*`, `application/json`);
- a Host that Django accepts, to a view whose DRF policy is the one fast handlers implement
  (token authentication first, signed in as the only permission, no throttles, JSON only, the
  API's JSON parser only).

Anything else, or a handler answering None, goes down the whole stack. The security and framing
headers come from the middleware above this one, as for every response; a test compares the two
paths' answers header by header. One answer differs on purpose: with the queue's Redis not
answering, a poll or an issue gets the 503 before its API token is checked, since the token's
lookup rides in the queue's round trip (queueing.api_user); the whole stack looks the token up
first and may answer 401. A write's gate check is the same on both paths (the gate middleware
looks the token up in its own round trip too), and so is its answer.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, ResolverMatch, resolve
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from accounts.authentication import CachedTokenAuthentication, request_api_key
from concertbooking import api
from concertbooking.errors import ApplicationError

# Accept headers DRF's content negotiation answers with JSONRenderer and no media type
# parameters (an `indent`, say, would change the body). No header at all means */*; an empty
# one matches no renderer (406).
_PLAIN_ACCEPTS = frozenset([None, "*/*", "application/json"])
_RENDERER = JSONRenderer()
_JSON = "application/json"
_PARSER = api.JSONParser()
# The largest body a fast handler is given: the booking flow's are one field of a few bytes.
MAX_PLAIN_BODY = 1024
# APIView's methods that carry a view's policy: a view overriding one may decide otherwise.
_POLICY_METHODS = (
    "dispatch",
    "initial",
    "perform_authentication",
    "check_permissions",
    "check_throttles",
    "get_authenticators",
    "get_permissions",
    "get_throttles",
    "get_renderers",
    "get_parsers",
    "get_content_negotiator",
    "perform_content_negotiation",
    "determine_version",
    "initialize_request",
    "get_parser_context",
    "handle_exception",
    "get_exception_handler",
    "finalize_response",
    "default_response_headers",
)


def _plain_api_call(request: HttpRequest) -> str | None:
    """The kind of fast handler that may answer the call ("get", "post" or "post_json"), or
    None for a call only the whole stack answers."""
    meta = request.META
    if (
        request.method not in ("GET", "POST")
        or not request.path_info.startswith("/api/")
        or meta.get("QUERY_STRING")
        or meta.get("HTTP_COOKIE")
        or meta.get("HTTP_ACCEPT") not in _PLAIN_ACCEPTS
        # CommonMiddleware refuses these user agents; with none listed (the default) it never
        # refuses a plain call.
        or settings.DISALLOWED_USER_AGENTS
    ):
        return None
    if request.method == "GET":
        return "get"
    if "HTTP_TRANSFER_ENCODING" in meta:
        return None
    length = meta.get("CONTENT_LENGTH")
    if length in (None, "", "0"):
        return "post"
    # A small body of exactly the media type the API's parser reads, with no parameters (a
    # charset would change how DRF decodes it), read only within Django's own limit (DRF reads
    # the stream without it); ASCII digits only, as int() would read "¹" or "٣" otherwise.
    if (
        meta.get("CONTENT_TYPE") == _JSON
        and length.isascii()
        and length.isdigit()
        and 0 < int(length) <= _body_limit()
        # In a request transaction (ATOMIC_REQUESTS) the whole stack's after-commit work waits
        # for the answer; a fast write's would not.
        and not connection.settings_dict.get("ATOMIC_REQUESTS")
    ):
        return "post_json"
    return None


def _body_limit() -> int:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return MAX_PLAIN_BODY if limit is None else min(MAX_PLAIN_BODY, limit)


def _policy_is_plain(view_class) -> bool:
    """The DRF policy a fast handler implements: a view that gains a throttle, a permission or
    another renderer, in its attributes or by overriding how DRF reads them, goes back to DRF's
    dispatch for every call."""
    authenticators = list(view_class.authentication_classes)
    return (
        authenticators[:1] == [CachedTokenAuthentication]
        and list(view_class.permission_classes) == [IsAuthenticated]
        and not view_class.throttle_classes
        and list(view_class.renderer_classes) == [JSONRenderer]
        and view_class.content_negotiation_class is DefaultContentNegotiation
        and view_class.versioning_class is None
        and list(view_class.parser_classes) == [api.JSONParser]
        and view_class.settings.EXCEPTION_HANDLER is api.exception_handler
        and all(getattr(view_class, name) is getattr(APIView, name) for name in _POLICY_METHODS)
    )


@functools.cache
def fast_handler(view_class, kind: str) -> Callable | None:
    """The view's fast handler of `kind` ("get", "post" for a POST without a body, "post_json"
    for one with a JSON body), or None (none defined, or a policy it cannot keep)."""
    handler = getattr(view_class, f"fast_{kind.lower()}", None)
    return handler if handler is not None and _policy_is_plain(view_class) else None


def _view_handler(view, kind: str) -> Callable | None:
    """The fast handler of the view a URL resolved to; none for a route that gives the view
    arguments of its own (`as_view(permission_classes=...)`)."""
    view_class = getattr(view, "view_class", None)
    if view_class is None or getattr(view, "view_initkwargs", None):
        return None
    return fast_handler(view_class, kind)


@functools.cache
def _allow(view_class) -> str:
    """The Allow header DRF's dispatch puts on every answer of the view."""
    view = view_class()
    view.setup(None)  # as as_view() does per request: HEAD follows GET
    return ", ".join(view.allowed_methods)


def json_response(
    view_class, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    """An answer as the view's DRF dispatch gives it: JSON, the view's own `headers`, then the
    view's Allow header (DRF adds it as the response leaves the view)."""
    response = HttpResponse(body, status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    response["Allow"] = _allow(view_class)
    return response


def render(data) -> bytes:
    """`data` as the API's JSON renderer writes it."""
    return _RENDERER.render(data)


def error_response(view_class, exc: ApplicationError) -> HttpResponse:
    """An ApplicationError as the API's exception handler answers it from that view: its own
    response, rendered as DRF's dispatch would."""
    response = api.error_response(exc)
    response.accepted_renderer = _RENDERER
    response.accepted_media_type = _RENDERER.media_type
    response.renderer_context = {}
    response.render()
    response["Allow"] = _allow(view_class)
    return response


@functools.lru_cache(maxsize=4096)
def _resolved(urlconf: str | None, path: str) -> ResolverMatch | None:
    """The URL's match, remembered: resolving walks the URL patterns (16 us here, a tenth of a
    poll's own work), and a path always resolves alike. Bounded, as paths carry ids."""
    try:
        return resolve(path, urlconf)
    except Resolver404:
        return None


def _parsed(request: HttpRequest):
    """The body as DRF's Request parses it for the view (the API's JSON parser, the request's
    encoding: none is given, so the default charset). The body stays readable for DRF."""
    return _PARSER.parse(io.BytesIO(request.body), _JSON, {"encoding": settings.DEFAULT_CHARSET})


def plain_id(data, name: str) -> int | None:
    """`data`'s one field `name` when the body is exactly that and an id the API's strict input
    accepts (a JSON integer from 1 to ID_MAX); None for any other body, which DRF's validation
    answers down the whole stack."""
    if type(data) is not dict or len(data) != 1:
        return None
    value = data.get(name)
    return value if type(value) is int and 1 <= value <= api.ID_MAX else None


class ApiFastPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        kind = _plain_api_call(request)
        response = self._answer(request, kind) if kind is not None else None
        return self.get_response(request) if response is None else response

    @staticmethod
    def _answer(request: HttpRequest, kind: str) -> HttpResponse | None:
        api_key = request_api_key(request)
        if not api_key:
            return None
        # The URL conf Django's handler set for this request (no middleware above sets another).
        match = _resolved(settings.ROOT_URLCONF, request.path_info)
        if match is None:
            return None
        handler = _view_handler(match.func, kind)
        if handler is None:
            return None
        try:
            request.get_host()
        except DisallowedHost:
            return None  # CommonMiddleware answers it, as for any request
        args = ()
        if kind == "post_json":
            try:
                args = (_parsed(request),)
            except ParseError:
                return None  # DRF answers 400 malformed_request
        try:
            response = handler(request, api_key, *args, **match.kwargs)
        except ApplicationError as exc:
            response = error_response(match.func.view_class, exc)
        except Exception as exc:
            # A bug or an outage: Django's 500 as the whole stack answers it, Content-Length
            # included. Never None here: a write may have committed before the failure.
            response = response_for_exception(request, exc)
        if response is not None:
            # What CommonMiddleware adds on the way out of the whole stack.
            response["Content-Length"] = str(len(response.content))
        return response
