"""The queue gate: only users holding an active queue token reach the booking flow."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template import loader
from django.urls import NoReverseMatch, reverse

from accounts.authentication import request_api_key, token_user_kept
from concertbooking import fastpath
from concertbooking.converters import IdConverter
from concertbooking.errors import ApplicationError, NotAuthenticated
from queueing import api_user, gate
from queueing.errors import ApiTokenInvalid, QueueTokenInvalid, QueueTokenRequired
from queueing.web import MAX_TOKEN_LENGTH, queue_token_from_request

# Every path behind the gate. Not gated: /api/auth/, the concert list, balances, the user's own
# reservations (/api/reservations), /api/queue/, docs, schema, health, admin, static, accounts.
# Ids as the URL converter reads them, so a path no view would answer stays a plain 404.
_ID = IdConverter.regex
GATED_PATHS = [
    re.compile(rf"^/api/concerts/{_ID}/available-dates/?$"),
    re.compile(rf"^/api/concerts/{_ID}/schedules/{_ID}/available-seats/?$"),
    re.compile(r"^/api/reservation(/|$)"),
    re.compile(r"^/book(/|$)"),
]
WAITING_ROOM_URL_NAME = "queue-waiting-room"


def is_gated(path: str) -> bool:
    return any(pattern.match(path) for pattern in GATED_PATHS)


def _user_id(request: HttpRequest) -> int | None:
    """The user the view will see, found the way DRF finds it (the view runs after us).

    None when anonymous; raises ApiTokenInvalid for a token DRF would refuse.
    """
    # DRF's test client attaches its forced user here; HTTP requests cannot set attributes.
    forced = getattr(request, "_force_auth_user", None)
    if forced is not None:
        return forced.pk
    key = request_api_key(request)
    if key is not None:
        # Token authentication comes first in DRF's order and decides alone when present.
        # The same per-process memory DRF's authentication reads, so a call costs one lookup.
        found = token_user_kept(request, key) if key else None
        if found is None:
            raise ApiTokenInvalid()
        return found[0].pk
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


def _prepare(request: HttpRequest) -> tuple[ApplicationError | None, str, int]:
    """(refusal, queue token, user id) from what the request itself carries; no Redis."""
    try:
        user_id = _user_id(request)
    except ApiTokenInvalid as exc:
        return exc, "", 0
    if user_id is None:
        return NotAuthenticated(), "", 0
    token = queue_token_from_request(request)
    if token is None:
        return QueueTokenRequired(), "", 0
    if len(token) > MAX_TOKEN_LENGTH:
        return QueueTokenInvalid(), "", 0
    return None, token, user_id


def _check(request: HttpRequest) -> ApplicationError | None:
    """The whole check of a request checked before its view; None lets it through."""
    return _check_carrying(request, request_api_key(request), queue_token_from_request(request))


def _check_carrying(
    request: HttpRequest, api_key: str | None, token: str | None
) -> ApplicationError | None:
    """_check, given the API token key (request_api_key) and the queue token the request
    carries. A caller this process does not remember has its API token looked up in the gate's
    own round trip (queueing.api_user) when the queue and the cache share a server."""
    if (
        api_key
        and api_user.lookup_can_ride_along(api_key)
        and token is not None
        and len(token) <= MAX_TOKEN_LENGTH
    ):
        return api_user.gate_check(request, api_key=api_key, token=token)
    refusal, token, user_id = _prepare(request)
    if refusal is not None:
        return refusal
    return gate.check(token=token, user_id=user_id)


def waiting_room_url(next_path: str) -> str:
    try:
        url = reverse(WAITING_ROOM_URL_NAME)
    except NoReverseMatch:
        return "/"
    return f"{url}?{urlencode({'next': next_path})}"


def _refuse(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    retry_after = getattr(exc, "retry_after", None)
    if request.path_info.startswith("/api/"):
        response = JsonResponse(exc.as_dict(), status=exc.status_code)
        if isinstance(exc, NotAuthenticated):
            response["WWW-Authenticate"] = "Token"
    elif retry_after:
        response = HttpResponse(
            loader.render_to_string("queueing/unavailable.html", {"detail": exc.detail}),
            status=exc.status_code,
        )
    else:
        return HttpResponseRedirect(waiting_room_url(request.get_full_path()))
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


class QueueGateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_gated(request.path_info):
            return self.get_response(request)
        if not (request.method in ("GET", "HEAD") and request.path_info.startswith("/api/")):
            refusal = _check(request)
            if refusal is not None:
                return _refuse(request, refusal)
            return self.get_response(request)
        refusal, token, user_id = _prepare(request)
        if refusal is not None:
            return _refuse(request, refusal)
        return read_behind_gate(
            request, token=token, user_id=user_id, read=lambda: self.get_response(request)
        )


def read_behind_gate(
    request: HttpRequest, *, token: str, user_id: int, read: Callable[[], HttpResponse]
) -> HttpResponse:
    """`read()`'s answer to a gated API GET, the gate checked in the read's own Redis round trip
    (queueing.gate) or, if the read made no check, after it; the refusal instead if the user
    may not pass. With the queue and the cache on separate servers, the check comes first."""
    if not gate.can_share_round_trips():
        refusal = gate.check(token=token, user_id=user_id)
        return read() if refusal is None else _refuse(request, refusal)
    failure = None
    with gate.deferred(token=token, user_id=user_id) as pending:
        try:
            response = read()
        except Exception as exc:
            # A read that raises (the fast path's; a view's DRF dispatch and Django answer for
            # it) still has the gate's verdict come first, as an answer would.
            failure = exc
    if not pending.done:
        pending.refusal = gate.check(token=token, user_id=user_id)
    if pending.refusal is not None:
        # The read's answer is dropped unseen. Not close()d: that sends request_finished,
        # which is the refusal's to send (the API's reads return plain HttpResponses).
        return _refuse(request, pending.refusal)
    if failure is not None:
        raise failure
    return response


def write_behind_gate_for_caller(
    request: HttpRequest,
    api_key: str,
    data,
    field: str,
    write: Callable[[object, int], HttpResponse],
) -> HttpResponse | None:
    """`write(user, id)`'s answer to a gated API write for a plain call (concertbooking.fastpath)
    signed in with API token `api_key`, whose body `data` is exactly one valid id named `field`
    (fastpath.plain_id), checked first exactly as this middleware checks a write (the same round
    trip, the same refusal). None, for the whole stack to answer, for any other body (DRF
    validates it) or a call with no usable queue token (the whole stack looks in the session)."""
    if not is_gated(request.path_info):
        return None  # only a gated path is this middleware's to check
    value = fastpath.plain_id(data, field)
    token = queue_token_from_request(request)
    if value is None or token is None or len(token) > MAX_TOKEN_LENGTH:
        return None
    refusal = _check_carrying(request, api_key, token)
    if refusal is not None:
        return _refuse(request, refusal)
    # Passing the check authenticated the key: its lookup is kept on the request.
    return write(token_user_kept(request, api_key)[0], value)


def read_behind_gate_for_caller(
    request: HttpRequest, api_key: str, read: Callable[[], HttpResponse]
) -> HttpResponse | None:
    """read_behind_gate for a plain API call (concertbooking.fastpath) signed in with API token
    `api_key`; None, for the whole stack to answer, when the key authenticates nobody or the
    call carries no usable queue token."""
    found = token_user_kept(request, api_key)
    token = queue_token_from_request(request)
    if found is None or token is None or len(token) > MAX_TOKEN_LENGTH:
        return None
    return read_behind_gate(request, token=token, user_id=found[0].pk, read=read)
