"""API token authentication with a short per-process memory of token -> user.

Every API call carries `Authorization: Token <key>`; looking the key up in PostgreSQL on each call
was the largest cost of the cheap endpoints (queue status, catalog reads). A key names one user
for life, so the only staleness is a revoked token or a deactivated user: this process forgets
them at once (signals), other processes within API_TOKEN_CACHE_SECONDS.
"""

import copy
import functools
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

_MAX_ENTRIES = 50_000
# key -> (user, token, monotonic deadline)
_entries: dict[str, tuple[object, Token, float]] = {}


def token_user(key: str):
    """(user, token) for an active user's API token key, or None; cached per process."""
    entry = _entries.get(key)
    now = time.monotonic()
    if entry is not None and entry[2] > now:
        # A copy, so a view that sets attributes on request.user never leaks into the next call.
        return copy.copy(entry[0]), entry[1]
    token = _token_with_user(key)
    if token is None or not token.user.is_active:
        _entries.pop(key, None)
        return None
    ttl = settings.API_TOKEN_CACHE_SECONDS
    if ttl > 0:
        if len(_entries) >= _MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (token.user, token, now + ttl)
    return copy.copy(token.user), token


@functools.cache
def _lookup_sql() -> tuple[str, list[str]]:
    """The token-with-user SELECT, built once from the models' metadata."""
    qn = connection.ops.quote_name
    user_meta, token_meta = get_user_model()._meta, Token._meta
    columns = ", ".join(f"u.{qn(field.column)}" for field in user_meta.concrete_fields)
    created = token_meta.get_field("created").column
    user_id = token_meta.get_field("user").column
    sql = (
        f"SELECT {columns}, t.{qn(created)} FROM {qn(token_meta.db_table)} t "
        f"JOIN {qn(user_meta.db_table)} u ON u.{qn(user_meta.pk.column)} = t.{qn(user_id)} "
        f"WHERE t.{qn(token_meta.pk.column)} = %s"
    )
    return sql, [field.attname for field in user_meta.concrete_fields]


def _token_with_user(key: str) -> Token | None:
    """The token row with its user attached, as the ORM would load them, in one query.

    The ORM compiles `Token.objects.select_related("user").filter(key=...)` afresh on every
    call: ~0.55 ms of CPU here, more than twice a whole health-check request, paid by every first
    call of a user in each worker (a queue place, a hold, a payment). The SQL is built once.
    PostgreSQL hands back the final Python types; elsewhere (SQLite for `make run`) the ORM
    applies its converters.
    """
    if connection.vendor != "postgresql":
        return Token.objects.select_related("user").filter(key=key).first()
    sql, user_attnames = _lookup_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [key])
        row = cursor.fetchone()
    if row is None:
        return None
    user = get_user_model().from_db(connection.alias, user_attnames, row[:-1])
    token = Token.from_db(connection.alias, ["key", "user_id", "created"], [key, user.pk, row[-1]])
    Token.user.field.set_cached_value(token, user)
    return token


def forget_user(user_id: int) -> None:
    # list(): a threaded dev server may add entries while we look.
    for key, entry in list(_entries.items()):
        if entry[0].pk == user_id:
            _entries.pop(key, None)


def _forget_now_and_on_commit(forget) -> None:
    """Forget at once, and again once the change commits: a lookup between the two (another
    thread of this process) may have remembered the row as it was before the change."""
    forget()
    transaction.on_commit(forget)


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, answering repeat keys from memory."""

    def authenticate_credentials(self, key):
        found = token_user(key)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return found


@receiver(post_delete, sender=Token)
def _token_deleted(sender, instance, **kwargs):
    key = instance.key
    _forget_now_and_on_commit(lambda: _entries.pop(key, None))


@receiver(post_save, sender=get_user_model())
def _user_saved(sender, instance, **kwargs):
    user_id = instance.pk
    _forget_now_and_on_commit(lambda: forget_user(user_id))
