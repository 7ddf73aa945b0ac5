"""Where a request carries its queue token: the Queue-Token header (API) or the session (pages).

The pages keep one token per room, since a buyer may wait in several, and remember the room they
last entered for the pages whose URL names no concert (a seat map, a checkout).
"""

import math
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from queueing import gate
from queueing.errors import QueueTokenWrongRoom

HEADER = "Queue-Token"
# Where WSGI puts it: read directly, since request.headers builds a mapping of every header.
_META_KEY = "HTTP_QUEUE_TOKEN"
SESSION_KEY = "queue_tokens"  # room -> token
ROOM_KEY = "queue_room"  # the room the pages last entered
# Real tokens are about 60 characters; anything much longer is not one and never reaches Redis.
MAX_TOKEN_LENGTH = 128


def _tokens(request: HttpRequest) -> dict[str, str]:
    tokens = request.session.get(SESSION_KEY)
    return tokens if isinstance(tokens, dict) else {}


def queue_token_from_request(request: HttpRequest, room: str | None = None) -> str | None:
    """The token sent in the header, else the one the pages remembered for `room` (by default
    the room they last entered)."""
    token = request.META.get(_META_KEY, "").strip()
    if not token and hasattr(request, "session"):
        token = _tokens(request).get(room or request.session.get(ROOM_KEY), "")
    return token or None


def token_room(token: str) -> str:
    return token.split(".", 1)[0]


def queue_token_remember(request: HttpRequest, token: str) -> None:
    """Pages: keep the user's token in their session, so the gate finds it on booking pages."""
    room = token_room(token)
    request.session[SESSION_KEY] = {**_tokens(request), room: token}
    request.session[ROOM_KEY] = room


def queue_room_enter(request: HttpRequest, room: str) -> None:
    """Pages: the buyer went into `room`'s booking pages (the session is written only on a
    change)."""
    if request.session.get(ROOM_KEY) != room:
        request.session[ROOM_KEY] = room


def queue_token_forget(request: HttpRequest, room: str | None = None) -> None:
    room = room or request.session.get(ROOM_KEY)
    kept = {r: t for r, t in _tokens(request).items() if r != room}
    request.session[SESSION_KEY] = kept


def room_page_refusal(request, concert_id: int) -> HttpResponse | None:
    """For a booking page whose concert shows only once its row is read: None when the place
    that let the buyer in admits to `concert_id`, else the way to that concert's queue."""
    try:
        gate.room_admits(gate.admitted_room(request), concert_id)
    except QueueTokenWrongRoom:
        query = urlencode({"next": request.get_full_path(), "concert": concert_id})
        return redirect(f"{reverse('queue-waiting-room')}?{query}")
    return None


def seconds_until(moment) -> int:
    """Whole seconds from now to `moment` (0 once passed): pages count down from what the server
    says, so a wrong clock on the buyer's device does not matter."""
    return max(0, math.ceil((moment - timezone.now()).total_seconds()))
