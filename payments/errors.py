"""Payment errors, part of the one ApplicationError hierarchy."""

from concertbooking.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unprocessable,
)


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


class TopUpLimitReached(TooManyRequests):
    code = "top_up_limit_reached"
    default_detail = "You reached today's top-up limit."


class TopUpNotFound(NotFound):
    code = "top_up_not_found"
    default_detail = "No top-up has this gateway payment id."


class TopUpMismatch(Conflict):
    code = "top_up_mismatch"
    default_detail = "This callback contradicts the top-up it names (its amount or its outcome)."


class PaymentGatewayNotFound(NotFound):
    code = "payment_gateway_not_found"
    default_detail = "No payment gateway has this name."


class CallbackSignatureInvalid(Forbidden):
    code = "callback_signature_invalid"
    default_detail = "The callback's signature is missing or does not match its body."


class CallbackInvalid(InvalidInput):
    code = "callback_invalid"
    default_detail = (
        'A callback is JSON {"payment_id": string, "status": "paid" or "failed", '
        '"amount": integer}.'
    )
