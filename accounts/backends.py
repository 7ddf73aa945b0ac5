"""Django's model backend, with a signed-in session's user remembered per process.

Every call of a signed-in browser loads its user: the waiting room's poll every few seconds,
every page. ModelBackend compiles and runs a user query each time, the largest cost of a poll
after the session itself (accounts.sessions). This worker now remembers the user for
API_TOKEN_CACHE_SECONDS, as it remembers an API token's user (accounts.authentication), and
forgets at once on a change it makes (signals). Other workers forget within that time: a user
deactivated, demoted or given a new password elsewhere keeps their sessions on a worker that
remembers them for at most API_TOKEN_CACHE_SECONDS. Sign-out needs no forgetting: it ends the
session, which every worker reads from the cache server on each call.

Two cases are checked before Django reads the user (session_user_check, called by
accounts.middleware): a session whose hash no longer matches the remembered row (its password
was changed through another worker, which keeps that session signed in with the new hash) reads
the row again rather than being signed out; and a request that may change something (any method
but GET, HEAD, OPTIONS) always reads the row, so a view saving request.user whole (the password
change form) never writes back a remembered row another worker has since changed.
"""

import copy
import functools
import time

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.crypto import constant_time_compare

from accounts.authentication import (
    forget_now_and_on_commit,
    only_sign_in_timestamp,
    user_attnames,
)

_MAX_ENTRIES = 50_000
# user id -> (user, monotonic deadline)
_users: dict[object, tuple[object, float]] = {}
_PATH = f"{__name__}.RememberingModelBackend"
# What sessions signed in before this backend name (Django's default): still accepted.
_FORMER_PATH = "django.contrib.auth.backends.ModelBackend"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RememberingModelBackend(ModelBackend):
    def get_user(self, user_id):
        entry = _users.get(user_id)
        now = time.monotonic()
        if entry is not None and entry[1] > now:
            user = entry[0]
        else:
            user = _user_by_id(user_id)
            if user is None or not self.user_can_authenticate(user):  # gone or inactive
                _users.pop(user_id, None)
                return None
            ttl = settings.API_TOKEN_CACHE_SECONDS
            if ttl > 0:
                if len(_users) >= _MAX_ENTRIES:
                    _users.clear()
                _users[user_id] = (user, now + ttl)
        # A copy, so what a request sets on request.user never reaches the next one.
        return copy.copy(user)


@functools.cache
def _select_sql() -> str:
    """The user's SELECT by primary key, built once: its columns in user_attnames() order."""
    qn = connection.ops.quote_name
    meta = get_user_model()._meta
    columns = ", ".join(qn(field.column) for field in meta.concrete_fields)
    return f"SELECT {columns} FROM {qn(meta.db_table)} WHERE {qn(meta.pk.column)} = %s"


def _user_by_id(user_id):
    """The user as ModelBackend loads it (`_default_manager.get(pk=...)`), or None.

    The ORM compiles that query afresh on every call, more CPU than the round trip itself, and a
    worker meets a far-back waiter's poll anew about once a minute (the memory's lifetime), so
    most such polls pay it. The SQL is built once; PostgreSQL hands back the final Python types.
    Elsewhere (SQLite for `make run`) the ORM answers, with its converters.
    """
    model = get_user_model()
    if connection.vendor != "postgresql":
        return model._default_manager.filter(pk=user_id).first()
    with connection.cursor() as cursor:
        cursor.execute(_select_sql(), [user_id])
        row = cursor.fetchone()
    return None if row is None else model.from_db(connection.alias, user_attnames(), row)


def session_user_check(request) -> None:
    """Before Django reads request.session's user: forget a remembered row the session
    disagrees with, or any remembered row for a request that may change something; and
    carry a session signed in under Django's own model backend over to this one."""
    session = request.session
    if session.get(BACKEND_SESSION_KEY) == _FORMER_PATH:
        session[BACKEND_SESSION_KEY] = _PATH
    raw = session.get(SESSION_KEY)
    if raw is None:
        return
    try:
        user_id = get_user_model()._meta.pk.to_python(raw)
    except ValidationError:
        return  # Django's own read refuses it
    entry = _users.get(user_id)
    if entry is None:
        return
    if request.method not in _SAFE_METHODS or not constant_time_compare(
        session.get(HASH_SESSION_KEY) or "", entry[0].get_session_auth_hash()
    ):
        forget_session_user(user_id)


def forget_session_user(user_id) -> None:
    _users.pop(user_id, None)


@receiver(post_save, sender=get_user_model())
def _user_saved(sender, instance, update_fields=None, **kwargs):
    if not only_sign_in_timestamp(update_fields):
        user_id = instance.pk
        forget_now_and_on_commit(lambda: forget_session_user(user_id))


@receiver(post_delete, sender=get_user_model())
def _user_deleted(sender, instance, **kwargs):
    user_id = instance.pk
    forget_now_and_on_commit(lambda: forget_session_user(user_id))
