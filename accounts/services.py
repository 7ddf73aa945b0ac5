"""Account writes: API tokens and new users."""

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractBaseUser
from rest_framework.authtoken.models import Token

from accounts.errors import InvalidCredentials


def token_obtain(*, username: str, password: str, request=None) -> str:
    """The user's API token, created on first use; the same token on every later call."""
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials()
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


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
