"""Payment errors, part of the one ApplicationError hierarchy."""

from concertbooking.errors import Conflict, InvalidInput, Unprocessable


class InvalidAmount(InvalidInput):
    code = "invalid_amount"
    default_detail = "The amount must be a whole number above zero and below the maximum."


class InsufficientBalance(Conflict):
    code = "insufficient_balance"
    default_detail = "Your balance is too low for this payment; top it up first."


class InvalidIdempotencyKey(InvalidInput):
    code = "invalid_idempotency_key"
    default_detail = "The Idempotency-Key header must be 1 to 255 printable ASCII characters."


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was already used with a different request."
