"""Account writes: API tokens and new users."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, password_validation, user_logged_in
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken, get_digest_token
from knox.settings import CONSTANTS

from accounts.errors import (
    AccountInactive,
    InvalidCredentials,
    LockedOut,
    PasswordIncorrect,
    PasswordInvalid,
    TokenNotFound,
)
from accounts.selectors import tokens_remember


def _expiry():
    return timezone.now() + timedelta(seconds=settings.API_TOKEN_SECONDS)


def _new_token(*, user_id: int) -> tuple[AuthToken, str]:
    """An unsaved token row and its key; the key is never stored, only its digest."""
    digest, key = get_digest_token()
    token = AuthToken(
        digest=digest,
        token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH],
        user_id=user_id,
        created=timezone.now(),
        expiry=_expiry(),
    )
    return token, key


def _expired_forget(*, user_ids) -> None:
    # Expired rows authenticate nobody; they go when their owner gets a new one.
    AuthToken.objects.filter(user_id__in=user_ids, expiry__lte=timezone.now()).delete()


def api_token_create(*, user: AbstractBaseUser) -> str:
    """A new API token for `user`, valid for API_TOKEN_SECONDS; its key is shown only now."""
    _expired_forget(user_ids=[user.pk])
    token, key = _new_token(user_id=user.pk)
    token.save(force_insert=True)
    token.user = user
    transaction.on_commit(lambda: tokens_remember([token]))
    return key


def api_token_revoke(*, user_id: int, token_id: str) -> None:
    """Revoke the user's token whose public id (the key's first characters) is `token_id`."""
    # Ids are hex; anything else (a NUL byte included, which PostgreSQL refuses) names no token.
    if not (token_id.isascii() and token_id.isalnum()):
        raise TokenNotFound()
    deleted, _ = AuthToken.objects.filter(user_id=user_id, token_key=token_id).delete()
    if not deleted:
        raise TokenNotFound()


def api_tokens_revoke(*, user_id: int) -> int:
    """Revoke every API token of the user; how many there were. Their deletes drop the cached
    entries (callers_forget)."""
    deleted, _ = AuthToken.objects.filter(user_id=user_id).delete()
    return deleted


def user_change_revoke(sender, instance, created=False, update_fields=None, **kwargs) -> None:
    """Receiver of a user's save: a new password or a deactivation revokes every API token of
    the user, in the save's transaction, however it was made (a page, the admin, a shell); the
    deletes drop the cached entries.

    A new password is Django's own mark of one: set_password() keeps the raw password until the
    save ends, and a hash upgrade at sign-in does not, so it signs no other device out.
    """
    if created:
        return
    if instance._password is not None or (
        not instance.is_active and (update_fields is None or "is_active" in update_fields)
    ):
        api_tokens_revoke(user_id=instance.pk)


def sign_in_locked(request) -> bool:
    """Whether the authenticate() just made with `request` was refused by the lockout."""
    return bool(getattr(request, "axes_locked_out", False))


def token_obtain(*, username: str, password: str, request) -> str:
    """A new API token for the user with these credentials; earlier ones stay valid.

    Wrong passwords count towards the lockout of this account from this address; during it
    even the right one is refused (LockedOut), and a success clears the count.
    """
    user = _authenticated(request, username=username, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials()
    with transaction.atomic():
        # The row as authenticate() read it, locked: a password change or deactivation that
        # committed during the hashing refuses this sign-in, and one that comes later waits for
        # the token to commit and then revokes it (user_change_revoke).
        checked = (
            get_user_model()
            .objects.select_for_update(no_key=True)
            .filter(pk=user.pk, is_active=True, password=user.password)
            .values_list("pk", flat=True)
        )
        if not list(checked):
            raise InvalidCredentials()
        # As a page sign-in does: last_login, and the lockout's count cleared.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return api_token_create(user=user)


def _authenticated(request, *, username: str, password: str) -> AbstractBaseUser | None:
    """authenticate(), counted by the lockout: wrong passwords towards it, and LockedOut while
    it holds for this account and address."""
    user = authenticate(request, username=username, password=password)
    if user is None and sign_in_locked(request):
        raise LockedOut(retry_after=settings.LOGIN_LOCKOUT_SECONDS)
    return user


def user_lock_active(*, user_id: int) -> None:
    """Lock the user's row for the caller's transaction, or AccountInactive if the user is
    deactivated (or gone).

    Every write that spends a seat or money takes it first: the caller cache may still hold a
    row deactivated behind the signals' back, the database cannot, and a deactivation committed
    meanwhile waits for the write. NO KEY UPDATE leaves rows that merely reference the user
    unblocked, and serializes one user's writes.
    """
    locked = (
        get_user_model()
        .objects.select_for_update(no_key=True)
        .filter(pk=user_id, is_active=True)
        .values_list("pk", flat=True)
    )
    if not list(locked):
        raise AccountInactive()


def user_password_change(
    *,
    user: AbstractBaseUser,
    old_password: str,
    new_password: str,
    request,
    api_token: bool = False,
) -> str | None:
    """Set a new password once the current one is given and the new one passes
    AUTH_PASSWORD_VALIDATORS; with `api_token`, the key of a new API token.

    The save revokes every API token of the user (user_change_revoke) and changes the session
    hash, which signs the user's other browsers out; a caller keeps its own session with
    update_session_auth_hash. Wrong current passwords count towards the sign-in lockout.
    """
    # Through the lockout, as a sign-in: a stolen session must not guess the password freely.
    if _authenticated(request, username=user.get_username(), password=old_password) is None:
        raise PasswordIncorrect()
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as error:
        raise PasswordInvalid(" ".join(error.messages)) from None
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        return api_token_create(user=user) if api_token else None


def user_create(*, username: str, password: str, email: str = "") -> AbstractBaseUser:
    return get_user_model().objects.create_user(username=username, password=password, email=email)


def users_seed(*, count: int, password: str, prefix: str = "user") -> int:
    """Create users `<prefix>1..<prefix>count` that do not exist yet; returns how many were new."""
    User = get_user_model()
    # One hash for all: hashing a million times would take hours, and these are demo accounts.
    hashed = make_password(password)
    names = [f"{prefix}{i}" for i in range(1, count + 1)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create(
        (User(username=name, password=hashed) for name in names if name not in existing),
        batch_size=5000,
    )
    return len(names) - len(existing)


def api_tokens_issue(*, usernames: list[str]) -> dict[str, str]:
    """A new API token for each existing user, created in bulk; {username: key}. Only digests
    are stored, so earlier keys cannot be handed out again; they stay valid until they expire."""
    User = get_user_model()
    users = dict(User.objects.filter(username__in=usernames).values_list("username", "id"))
    _expired_forget(user_ids=users.values())
    fresh = {name: _new_token(user_id=uid) for name, uid in users.items()}
    AuthToken.objects.bulk_create((token for token, _ in fresh.values()), batch_size=5000)
    digests = [token.digest for token, _ in fresh.values()]
    tokens = AuthToken.objects.filter(digest__in=digests).select_related("user")
    transaction.on_commit(lambda: tokens_remember(tokens.iterator(chunk_size=5000)))
    return {name: key for name, (_, key) in fresh.items()}
