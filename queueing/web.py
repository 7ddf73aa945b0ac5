"""Where a request carries its queue token: the Queue-Token header (API) or the session (pages).

The pages keep one token per room, since a buyer may wait in several, and remember the room they
last entered for the pages whose URL names no concert (a seat map, a checkout).
"""

from django.http import HttpRequest

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
