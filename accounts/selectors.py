"""Who the caller is, through Django's cache: an API token's user, a signed-in session's user.

Every worker shares the one cache, so a change to a user or a token (callers_forget, on the
signals) reaches them all once it commits; a change that bypasses signals (QuerySet.update, raw
SQL) is read within CALLER_CACHE_SECONDS. When the cache fails, the database answers.
"""

from collections.abc import Callable, Iterable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken

_PREFIX = "caller"
# Written over a changed row's entries; fills only add, so a reader that loaded the row before
# the change cannot put it back. It outlives any request (gunicorn's timeout is 30 s).
_TOMBSTONE = "-"
_TOMBSTONE_SECONDS = 60


def _token_key(digest: str) -> str:
    # The stored digest, so a listing of the cache server shows no usable API token.
    return f"{_PREFIX}:token:{digest}"


def _user_key(user_id) -> str:
    return f"{_PREFIX}:user:{user_id}"


def _cached(cache_key: str, load: Callable[[], object | None]):
    """The entry at cache_key, else load()'s answer, kept unless None or a tombstone is there."""
    seconds = settings.CALLER_CACHE_SECONDS
    if seconds <= 0:
        return load()
    found = cache.get(cache_key)
    if found == _TOMBSTONE:
        return load()
    if found is None:
        found = load()
        if found is not None:
            cache.add(cache_key, found, seconds)
    return found


def _active_token(digest: str) -> AuthToken | None:
    token = AuthToken.objects.select_related("user").filter(digest=digest).first()
    return token if token is not None and token.user.is_active else None


def _unexpired(token: AuthToken | None) -> AuthToken | None:
    if token is None or (token.expiry is not None and token.expiry <= timezone.now()):
        return None
    return token


def token_with_user(key: str) -> AuthToken | None:
    """API token `key`, its user attached, when it has not expired and that user is active."""
    digest = hash_token(key)
    # Checked on every read: an entry kept from before the expiry must not outlive it.
    return _unexpired(_cached(_token_key(digest), lambda: _active_token(digest)))


def api_tokens_of(*, user_id: int) -> QuerySet[AuthToken]:
    """The user's API tokens that have not expired, newest first."""
    return AuthToken.objects.filter(user_id=user_id, expiry__gt=timezone.now()).order_by(
        "-created", "token_key"
    )


def tokens_remember(tokens: Iterable[AuthToken]) -> None:
    """Put just handed-out tokens (their users attached) in the cache, so a sign-in before an
    on-sale costs its first calls no query. Only adds: a change since leaves its tombstone."""
    seconds = settings.CALLER_CACHE_SECONDS
    if seconds > 0:
        for token in tokens:
            if token.user.is_active:
                cache.add(_token_key(token.digest), token, seconds)


def session_user(user_id, load: Callable[[], AbstractBaseUser | None]) -> AbstractBaseUser | None:
    """A signed-in session's user: the cache's entry, else load()'s (the model backend's)."""
    return _cached(_user_key(user_id), load)


def callers_forget(sender, instance, created=False, update_fields=None, **kwargs) -> None:
    """Receiver of a user's save or delete and a token's delete: the entries that may hold the
    old row become tombstones, now and again once the change commits."""
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # no entry names a new row, and no caller reads a sign-in's timestamp
    if isinstance(instance, AuthToken):
        token_key = _token_key(instance.digest)

        def stale() -> list[str]:
            return [token_key]
    else:
        user_id = instance.pk

        def stale() -> list[str]:
            # Asked again on commit: a token committed meanwhile may have been read with the
            # old row.
            digests = AuthToken.objects.filter(user_id=user_id).values_list("digest", flat=True)
            return [_user_key(user_id), *map(_token_key, digests)]

    def drop() -> None:
        cache.set_many(dict.fromkeys(stale(), _TOMBSTONE), _TOMBSTONE_SECONDS)

    drop()
    transaction.on_commit(drop)
