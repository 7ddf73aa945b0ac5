"""Account writes: API tokens and new users."""

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.errors import AccountInactive, InvalidCredentials
from accounts.selectors import tokens_remember


def token_obtain(*, username: str, password: str, request=None) -> str:
    """The user's API token, created on first use; the same token on every later call."""
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials()
    token, _ = Token.objects.get_or_create(user=user)
    token.user = user
    transaction.on_commit(lambda: tokens_remember([token]))
    return token.key


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
    """API tokens for existing users, created in bulk where missing; {username: key}."""
    User = get_user_model()
    users = dict(User.objects.filter(username__in=usernames).values_list("username", "id"))
    existing = dict(Token.objects.filter(user_id__in=users.values()).values_list("user_id", "key"))
    fresh = [
        Token(user_id=uid, key=Token.generate_key())
        for uid in users.values()
        if uid not in existing
    ]
    Token.objects.bulk_create(fresh, batch_size=5000)
    keys = {**existing, **{token.user_id: token.key for token in fresh}}
    tokens = Token.objects.filter(key__in=keys.values()).select_related("user")
    transaction.on_commit(lambda: tokens_remember(tokens.iterator(chunk_size=5000)))
    return {name: keys[uid] for name, uid in users.items()}
