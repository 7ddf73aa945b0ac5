"""The one error hierarchy: services raise these, the API and the pages render them."""

from typing import Any


class ApplicationError(Exception):
    """A failure a client can act on; `code` is stable and machine-readable."""

    status_code = 400
    code = "bad_request"
    default_detail = "The request could not be processed."

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any):
        self.detail = detail or self.default_detail
        if code:
            self.code = code
        self.extra = extra
        super().__init__(self.detail)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class InvalidInput(ApplicationError):
    status_code = 400
    code = "invalid"
    default_detail = "The request is not valid."


class NotAuthenticated(ApplicationError):
    status_code = 401
    code = "not_authenticated"
    default_detail = "Authentication credentials were not provided."


class Forbidden(ApplicationError):
    status_code = 403
    code = "permission_denied"
    default_detail = "You may not do this."


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"
    default_detail = "Not found."


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"
    default_detail = "The request conflicts with the current state."


class Gone(ApplicationError):
    status_code = 410
    code = "gone"
    default_detail = "This is no longer available."


class Unprocessable(ApplicationError):
    status_code = 422
    code = "unprocessable"
    default_detail = "The request cannot be processed."


class TooManyRequests(ApplicationError):
    """A limit refused the request; the client may try again after `retry_after` seconds."""

    status_code = 429
    code = "rate_limited"
    default_detail = "Too many requests; try again later."
    retry_after = 60

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None, **extra):
        super().__init__(detail, **extra)
        if retry_after is not None:
            self.retry_after = max(1, int(retry_after))


class ServiceUnavailable(ApplicationError):
    status_code = 503
    code = "service_unavailable"
    default_detail = "The service is temporarily unavailable; try again shortly."
    retry_after = 5
