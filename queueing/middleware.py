"""The queue gate middleware: only users holding an active queue token reach a gated view."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template import loader
from django.urls import reverse
from rest_framework.exceptions import AuthenticationFailed

from accounts.authentication import CachedTokenAuthentication
from concertbooking.errors import ApplicationError, NotAuthenticated
from queueing import gate
from queueing.errors import ApiTokenInvalid, QueueTokenInvalid, QueueTokenRequired
from queueing.selectors import room_for_concert
from queueing.web import MAX_TOKEN_LENGTH, queue_room_enter, queue_token_from_request


def _user_id(request: HttpRequest) -> int | None:
    """The user the view will see, found as DRF finds it (token first, then the session); None
    when anonymous. Raises ApiTokenInvalid for a token DRF would refuse."""
    # DRF's test client attaches its forced user here; HTTP requests cannot set attributes.
    forced = getattr(request, "_force_auth_user", None)
    if forced is not None:
        return forced.pk
    try:
        found = CachedTokenAuthentication().authenticate(request)
    except AuthenticationFailed as exc:
        raise ApiTokenInvalid(str(exc.detail)) from exc
    if found is not None:
        return found[0].pk
    user = request.user
    return user.pk if user.is_authenticated else None


def _check(
    request: HttpRequest, concert_id: int | None, view_func, view_kwargs: dict
) -> ApplicationError | None:
    """None lets the request through (and notes the room on it); else the refusal."""
    try:
        user_id = _user_id(request)
    except ApiTokenInvalid as exc:
        return exc
    if user_id is None:
        return NotAuthenticated()
    refusal = _gate(request, user_id, concert_id)
    if refusal is not None:
        passes = gate.passes_of(view_func)
        # Asked after the refusal: a view releases the slot only once its answer is stored, so
        # a retry refused because the first attempt just released it finds that answer here.
        reason = passes(request, user_id, view_kwargs) if passes is not None else None
        if reason is not None:
            # The view reads why (gate.passed_to_replay, gate.passed_as_claim).
            request.queue_pass = reason
            return None
    return refusal


def _gate(request: HttpRequest, user_id: int, concert_id: int | None) -> ApplicationError | None:
    room = None if concert_id is None else room_for_concert(concert_id).name
    token = queue_token_from_request(request, room)
    if token is None:
        return QueueTokenRequired()
    if len(token) > MAX_TOKEN_LENGTH:
        return QueueTokenInvalid()
    room, refusal = gate.check(token=token, user_id=user_id, room=room)
    if refusal is None:
        request.queue_room = room
        if not request.path_info.startswith("/api/"):
            queue_room_enter(request, room)
    return refusal


def _refuse(request: HttpRequest, exc: ApplicationError, concert_id: int | None) -> HttpResponse:
    """The API gets the error as JSON; a page goes to the waiting room, or says the queue is
    away."""
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
        query = {"next": request.get_full_path()}
        if concert_id is not None:
            query["concert"] = concert_id
        query = urlencode(query)
        return HttpResponseRedirect(f"{reverse('queue-waiting-room')}?{query}")
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


class QueueGateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if not gate.is_gated(view_func):
            return None
        concert_id = view_kwargs.get("concert_id")
        refusal = _check(request, concert_id, view_func, view_kwargs)
        return None if refusal is None else _refuse(request, refusal, concert_id)
