"""Queue errors, part of the one ApplicationError hierarchy; the gate renders them too."""

from concertbooking.errors import (
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
)


class QueueTokenRequired(Forbidden):
    code = "queue_token_required"
    default_detail = "Take a place in the queue first (send your token as Queue-Token)."


class QueueNotAdmitted(Forbidden):
    code = "queue_not_admitted"
    default_detail = "You are still waiting in the queue."

    def __init__(self, detail: str | None = None, *, position: int | None, **extra):
        super().__init__(detail, position=position, **extra)


class QueueTokenInvalid(Forbidden):
    code = "queue_token_invalid"
    default_detail = "This queue token is unknown, has expired or is not yours."


class QueueTokenWrongRoom(Forbidden):
    code = "queue_token_wrong_room"
    default_detail = (
        "This queue token is for another waiting room; join this concert's queue for it."
    )


class QueueUnavailable(ServiceUnavailable):
    code = "queue_unavailable"
    default_detail = "The waiting room is briefly unavailable; try again in a few seconds."
    retry_after = 5


class QueuePollTooSoon(TooManyRequests):
    """Polled well ahead of the ticket's poll_after_seconds; the code stays `rate_limited`."""

    default_detail = "You are checking your place faster than asked; wait a moment."


class ConcertNotFound(NotFound):
    code = "concert_not_found"
    default_detail = "There is no such concert."


class SaleNotOpen(Conflict):
    code = "sale_not_open"
    default_detail = "The queue for this sale is not open yet."

    def __init__(self, detail: str | None = None, *, opens_at: str, **extra):
        super().__init__(detail, opens_at=opens_at, **extra)


class RoomClosed(Conflict):
    code = "room_closed"
    default_detail = "This waiting room is closed: nobody can join it now."


class ApiTokenInvalid(NotAuthenticated):
    """The gate's answer to a bad API token: the same one DRF's token authentication gives."""

    code = "authentication_failed"
    default_detail = "Invalid token."
