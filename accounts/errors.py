"""Account errors, part of the one ApplicationError hierarchy."""

from concertbooking.errors import InvalidInput


class InvalidCredentials(InvalidInput):
    code = "invalid_credentials"
    default_detail = "Unable to sign in with those credentials."
