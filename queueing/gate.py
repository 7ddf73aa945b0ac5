"""The queue gate: which views it guards, and its check (one Redis round trip)."""

from __future__ import annotations

from typing import TypeVar

from concertbooking.errors import ApplicationError
from queueing import store
from queueing.errors import QueueNotAdmitted, QueueTokenInvalid

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


def check(*, token: str, user_id: int) -> ApplicationError | None:
    """The gate's check: None when `token` is `user_id`'s and admitted, else the refusal."""
    try:
        return refusal_for(*store.gate(token=token, user_id=user_id))
    except ApplicationError as exc:  # the store is away: nobody passes by accident
        return exc
