"""Account errors, part of the one ApplicationError hierarchy."""

from concertbooking.errors import Forbidden, InvalidInput, NotFound


class InvalidCredentials(InvalidInput):
    code = "invalid_credentials"
    default_detail = "Unable to sign in with those credentials."


class AccountInactive(Forbidden):
    code = "account_inactive"
    default_detail = "This account is deactivated."


class TokenNotFound(NotFound):
    code = "token_not_found"
    default_detail = "You have no API token with that id."
