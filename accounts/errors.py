"""Account errors, part of the one ApplicationError hierarchy."""

from concertbooking.errors import Forbidden, InvalidInput, NotFound, TooManyRequests


class InvalidCredentials(InvalidInput):
    code = "invalid_credentials"
    default_detail = "Unable to sign in with those credentials."


class PasswordIncorrect(InvalidInput):
    code = "password_incorrect"
    default_detail = "Your current password is not correct."


class PasswordInvalid(InvalidInput):
    """The new password fails a validator of AUTH_PASSWORD_VALIDATORS; `detail` says which."""

    code = "password_invalid"
    default_detail = "Choose another password."


class LockedOut(TooManyRequests):
    """Repeated wrong passwords locked sign-in for this account from this address."""

    code = "locked_out"
    default_detail = (
        "Too many wrong passwords: sign-in for this account from your address is locked; "
        "try again after Retry-After seconds."
    )


class AccountInactive(Forbidden):
    code = "account_inactive"
    default_detail = "This account is deactivated."


class TokenNotFound(NotFound):
    code = "token_not_found"
    default_detail = "You have no API token with that id."
