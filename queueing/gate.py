"""The queue gate: which views it guards, and its check (one Redis round trip)."""

from __future__ import annotations

from typing import TypeVar

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


def queue_gated(view: V) -> V:
    """Mark a view (a function, or a class-based view's class) as behind the queue gate; the
    gate middleware reads the mark once the URL has resolved, so the URL conf lists no paths."""
    view.queue_gated = True
    return view


def is_gated(view_func) -> bool:
    """Whether the view Django resolved is marked: on the function, or on the class as_view()
    made it from."""
    return getattr(view_func, "queue_gated", False) or getattr(
        getattr(view_func, "view_class", None), "queue_gated", False
    )


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
