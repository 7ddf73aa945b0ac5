"""The queue gate: which views it guards, and its check (one Redis round trip)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest
from django.utils import timezone

from concertbooking.errors import ApplicationError
from queueing import store, tokens
from queueing.errors import (
    QueueNotAdmitted,
    QueueTokenInvalid,
    QueueTokenWrongRoom,
)
from queueing.selectors import room_for_concert, room_named

V = TypeVar("V")


# passes(request, user_id, view_kwargs), asked only after the gate refused: why the view lets
# this request through without a queue place, or None. PASS_REPLAY: it retries a request whose
# answer the view has stored (an Idempotency-Key's), and the view then only replays. PASS_CLAIM:
# it concerns seats held for the user outside the queue (a waiting list's offer).
Passes = Callable[[HttpRequest, int, dict[str, Any]], str | None]
PASS_REPLAY = "replay"
PASS_CLAIM = "claim"


def queue_gated(view: V | None = None, *, passes: Passes | None = None):
    """Mark a view (a function, or a class-based view's class) as behind the queue gate; the
    gate middleware reads the mark once the URL has resolved, so the URL conf lists no paths.

    `passes` names the requests the view lets through without a queue place: a payment releases
    the slot it was made in and its retry must still get its answer (passed_to_replay), and a
    seat offered from a waiting list is paid without queueing (passed_as_claim).
    """

    def mark(view: V) -> V:
        view.queue_gated = True
        view.queue_passes = passes
        return view

    return mark if view is None else mark(view)


def _mark(view_func, name: str):
    """A mark on the function, or on the class as_view() made it from."""
    found = getattr(view_func, name, None)
    if found is None:
        found = getattr(getattr(view_func, "view_class", None), name, None)
    return found


def is_gated(view_func) -> bool:
    """Whether the view Django resolved is marked."""
    return bool(_mark(view_func, "queue_gated"))


def passes_of(view_func) -> Passes | None:
    """The resolved view's test for requests it lets through without a place, if it has one."""
    return _mark(view_func, "queue_passes")


def passed_to_replay(request) -> bool:
    """Whether this request passed the gate only as a retry of a stored answer."""
    return getattr(request, "queue_pass", None) == PASS_REPLAY


def passed_as_claim(request) -> bool:
    """Whether this request passed the gate for seats held for the user outside the queue."""
    return getattr(request, "queue_pass", None) == PASS_CLAIM


def refusal_for(verdict: int, position: int | None) -> ApplicationError | None:
    """None when the gate script's verdict lets the request through, else the refusal."""
    if verdict == store.GATE_ACTIVE:
        return None
    if verdict == store.GATE_WAITING:
        return QueueNotAdmitted(position=position)
    return QueueTokenInvalid()


def check(
    *, token: str, user_id: int, room: str | None = None
) -> tuple[str | None, ApplicationError | None]:
    """The gate's check: (the token's room, None) when `token` is `user_id`'s and admitted (in
    `room`, when the request's concert needs that one), else (its room or None, the refusal)."""
    place = tokens.token_read(token, user_id=user_id)
    config = place and room_named(place.room)
    if config is None:
        return None, QueueTokenInvalid()
    if room is not None and room != place.room:
        return place.room, QueueTokenWrongRoom()
    try:
        verdict = store.gate(
            room=place.room,
            user_id=user_id,
            stamp=place.stamp,
            abandon_ms=config.abandon_seconds * 1000,
        )
    except ApplicationError as exc:  # the store is away: nobody passes by accident
        return place.room, exc
    verdict, position = verdict
    if verdict == store.GATE_WAITING and config.phase(timezone.now()) == "prequeue":
        position = None  # the draw's order shows from the start, not before
    return place.room, refusal_for(verdict, position)


def room_admits(room: str | None, concert_id: int) -> None:
    """Raise QueueTokenWrongRoom unless a place in `room` admits to `concert_id`. Views whose
    concert shows only once they have read a row call it; None (an ungated caller) passes."""
    if room is not None and room_for_concert(concert_id).name != room:
        raise QueueTokenWrongRoom()


def admitted_room(request) -> str | None:
    """The room whose place let this request through the gate; None when it was not gated."""
    return getattr(request, "queue_room", None)
