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


# replayable(request, user_id, view_kwargs): whether the request retries one whose answer the
# view has stored (an Idempotency-Key's), so it passes the gate to be replayed by the view.
Replayable = Callable[[HttpRequest, int, dict[str, Any]], bool]


def queue_gated(view: V | None = None, *, replayable: Replayable | None = None):
    """Mark a view (a function, or a class-based view's class) as behind the queue gate; the
    gate middleware reads the mark once the URL has resolved, so the URL conf lists no paths.

    `replayable` lets a retry whose answer is stored through without a queue place (a payment
    releases the slot it was made in, and its retry must still get its answer); the view then
    only replays (passed_to_replay).
    """

    def mark(view: V) -> V:
        view.queue_gated = True
        view.queue_replayable = replayable
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


def replayable_of(view_func) -> Replayable | None:
    """The resolved view's test for a retry of a stored answer, if it declared one."""
    return _mark(view_func, "queue_replayable")


def passed_to_replay(request) -> bool:
    """Whether this request passed the gate only as a retry of a stored answer."""
    return getattr(request, "queue_replay", False)


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
