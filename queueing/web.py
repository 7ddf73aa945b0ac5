"""Where a request carries its queue token: the Queue-Token header (API) or the session (pages)."""

from django.http import HttpRequest

HEADER = "Queue-Token"
# Where WSGI puts it: read directly, since request.headers builds a mapping of every header.
_META_KEY = "HTTP_QUEUE_TOKEN"
SESSION_KEY = "queue_token"
# Real tokens are 32 characters; anything much longer is not one and never reaches Redis.
MAX_TOKEN_LENGTH = 128


def queue_token_from_request(request: HttpRequest) -> str | None:
    """The token sent in the header, else the one the pages remembered in the session."""
    token = request.META.get(_META_KEY, "").strip()
    if not token and hasattr(request, "session"):
        token = request.session.get(SESSION_KEY, "")
    return token or None


def queue_token_remember(request: HttpRequest, token: str) -> None:
    """Pages: keep the user's token in their session, so the gate finds it on booking pages."""
    request.session[SESSION_KEY] = token


def queue_token_forget(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)
