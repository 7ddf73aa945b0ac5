"""Queue errors, part of the one ApplicationError hierarchy; the gate renders them too."""

from concertbooking.errors import Forbidden, NotAuthenticated, ServiceUnavailable


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


class QueueUnavailable(ServiceUnavailable):
    code = "queue_unavailable"
    default_detail = "The waiting room is briefly unavailable; try again in a few seconds."
    retry_after = 5


class ApiTokenInvalid(NotAuthenticated):
    """The gate's answer to a bad API token: the same one DRF's token authentication gives."""

    code = "authentication_failed"
    default_detail = "Invalid token."
