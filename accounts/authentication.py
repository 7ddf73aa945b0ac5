"""API token authentication: token -> user remembered per process, then in Redis, then PostgreSQL.

Every API call carries `Authorization: Token <key>`; looking the key up in PostgreSQL on each call
was the largest cost of the cheap endpoints (queue status, catalog reads). A key names one user
for life, so the only staleness is a revoked token or a changed user.

- This process remembers a user for API_TOKEN_CACHE_SECONDS and forgets them at once on a change
  it makes (signals); other processes' memories forget within API_TOKEN_CACHE_SECONDS.
- Redis (the cache server) keeps the same for every worker and app server: written when a token
  is handed out, read on a worker's first call of a user, so a sign-in just before an on-sale
  costs its first API calls no PostgreSQL query. A change writes a short-lived tombstone (now and
  after commit), and readers only ever add entries (SET NX), so a reader that loaded the row
  before the change cannot put it back. Redis is an accelerator here: when it fails, PostgreSQL
  answers.
"""

import copy
import functools
import hashlib
import logging
import pickle
import time
from collections.abc import Iterable
from contextlib import nullcontext

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django_redis import get_redis_connection
from redis.exceptions import RedisError
from rest_framework import HTTP_HEADER_ENCODING, exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

log = logging.getLogger(__name__)

_MAX_ENTRIES = 50_000
# key -> (user, token, monotonic deadline)
_entries: dict[str, tuple[object, Token, float]] = {}
# A shared entry lives ten minutes: long enough for a sign-in just before an on-sale to carry its
# first calls, short enough to bound the damage should a tombstone ever be lost (Redis away
# during a change, an eviction): then other workers keep the old row at most this long.
_SHARED_SECONDS = 600
# Longer than any request runs (gunicorn's timeout is 30 s): a request that loaded a row before
# a change finds the tombstone when it tries to share that row.
_TOMBSTONE_SECONDS = 60
_TOMBSTONE = b"-"
# The user's columns that are shared: everything but the password hash, which no API call needs
# (an access would load it from the database, as for any deferred field).
_NOT_SHARED = {"password"}
# Writing an entry: only when neither the entry nor its user carries a tombstone.
# KEYS: entry, user tombstone. ARGV: payload, lifetime (s), tombstone value.
_ADD = """
if redis.call('GET', KEYS[1]) == ARGV[3] or redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
_scripts: dict[str, object] = {}


# token_user's default: it reads the shared entry itself.
_FETCH = object()


def token_user(key: str, *, shared_reply=_FETCH):
    """(user, token) for an active user's API token key, or None; remembered in two tiers.

    `shared_reply` is the reply to a GET of shared_key(key) a caller already sent in a pipeline
    of its own (a value, None, or the RedisError it met), saving this lookup its round trip.
    """
    entry = _entries.get(key)
    now = time.monotonic()
    if entry is not None and entry[2] > now:
        # A copy, so a view that sets attributes on request.user never leaks into the next call.
        return copy.copy(entry[0]), entry[1]
    shared = _shared_get(key) if shared_reply is _FETCH else _shared_read(key, shared_reply)
    token = shared if isinstance(shared, Token) else _token_with_user(key)
    if token is None or not token.user.is_active:
        _entries.pop(key, None)
        return None
    if shared is None:  # nothing shared yet (a tombstone or a failure: leave it be)
        tokens_share([token])
    ttl = settings.API_TOKEN_CACHE_SECONDS
    if ttl > 0:
        if len(_entries) >= _MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (token.user, token, now + ttl)
    return copy.copy(token.user), token


@functools.cache
def user_attnames() -> list[str]:
    return [field.attname for field in get_user_model()._meta.concrete_fields]


@functools.cache
def _shared_attnames() -> tuple[list[str], str]:
    """The shared columns and a digest of their list: it names the entries, so a deploy that
    changes the user model never reads entries written by the one before."""
    names = [name for name in user_attnames() if name not in _NOT_SHARED]
    return names, hashlib.sha256(",".join(names).encode()).hexdigest()[:8]


def _shared_key(key: str) -> str:
    # A digest of the key, so a key listing of the cache server shows no usable API token.
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{settings.CACHE_KEY_PREFIX}:apitoken:{_shared_attnames()[1]}:{digest}"


def _user_tombstone_key(user_id: int) -> str:
    return f"{settings.CACHE_KEY_PREFIX}:apitoken-user:{user_id}"


def _payload(token: Token) -> bytes:
    """b"<user id>:" and the pickled row: the prefix lets a queue script act for the entry's
    user in the round trip that fetches it (queueing.api_user)."""
    user = token.user
    row = (*(getattr(user, name) for name in _shared_attnames()[0]), token.created)
    return b"%d:%b" % (user.pk, pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL))


def _row(raw: bytes):
    """The row in an entry, past its user id prefix (which queueing.api_user compares with the
    user authenticated from the row). An entry written before the prefix existed is a bare
    pickle, which starts with b"\x80", never a digit."""
    if raw[:1].isdigit():
        raw = raw.partition(b":")[2]
    return pickle.loads(raw)


def _token_from_row(key: str, row, attnames: list[str]) -> Token:
    """Token and user instances as the ORM loads them, from the user's columns (`attnames`, in
    that order) and the token's `created`; columns not given are deferred."""
    user = get_user_model().from_db(connection.alias, attnames, row[:-1])
    token = Token.from_db(connection.alias, ["key", "user_id", "created"], [key, user.pk, row[-1]])
    Token.user.field.set_cached_value(token, user)
    return token


def token_remembered(key: str) -> bool:
    """Whether this process remembers the key's user, so token_user answers with no I/O."""
    entry = _entries.get(key)
    return entry is not None and entry[2] > time.monotonic()


def request_api_key(request) -> str | None:
    """The API token key a request authenticates with, read from `Authorization: Token <key>`
    exactly as CachedTokenAuthentication reads it (the header's bytes split on ASCII blanks):
    None without a Token header (or when a test client forces its user or token, attaching it
    to the request), "" for a Token header the authentication refuses (no key, extra parts, a
    key that is not text)."""
    if (
        getattr(request, "_force_auth_user", None) is not None
        or getattr(request, "_force_auth_token", None) is not None
    ):
        return None
    parts = _authorization_header(request).split()
    if not parts or parts[0].lower() != CachedTokenAuthentication.keyword.lower().encode():
        return None
    if len(parts) != 2:
        return ""
    try:
        return parts[1].decode()
    except UnicodeError:
        return ""


def _authorization_header(request) -> bytes:
    """DRF's get_authorization_header, read from WSGI's environ: `request.headers` (what DRF
    reads) is a mapping of every header, built on first use, which a fast call never needs."""
    auth = request.META.get("HTTP_AUTHORIZATION", b"")
    return auth.encode(HTTP_HEADER_ENCODING) if isinstance(auth, str) else auth


# Where a lookup made before DRF authenticates (queueing.api_user) leaves its answer for
# CachedTokenAuthentication, so one request looks a key up once: (key, token_user's answer).
_LOOKUP_ATTRIBUTE = "_api_token_lookup"


def token_user_for_request(request, key: str, *, shared_reply=_FETCH):
    """token_user, its answer kept on `request` for the authentication that follows."""
    found = token_user(key, shared_reply=shared_reply)
    setattr(request, _LOOKUP_ATTRIBUTE, (key, found))
    return found


def token_user_kept(request, key: str):
    """token_user's answer for `key` as this request already found it, else looked up now (and
    kept: the gate middleware and DRF's authentication both ask)."""
    kept = getattr(request, _LOOKUP_ATTRIBUTE, None)
    if kept is not None and kept[0] == key:
        return kept[1]
    return token_user_for_request(request, key)


def shared_key(key: str) -> str:
    """The cache key of the key's shared entry (for a caller that pipelines its GET)."""
    return _shared_key(key)


def _shared_get(key: str) -> Token | bytes | None:
    """The shared entry: a Token, else _TOMBSTONE (a recent change, Redis away or an unreadable
    entry: read the database and share nothing), else None (nothing shared yet)."""
    try:
        raw = get_redis_connection("default").get(_shared_key(key))
    except RedisError as exc:
        raw = exc
    return _shared_read(key, raw)


def _shared_read(key: str, raw) -> Token | bytes | None:
    """_shared_get's answer from the GET's reply (or the RedisError it met)."""
    if isinstance(raw, Exception):
        log.warning("API token cache unavailable; reading the database", exc_info=raw)
        return _TOMBSTONE
    if raw is None or raw == _TOMBSTONE:
        return raw
    try:
        return _token_from_row(key, _row(raw), _shared_attnames()[0])
    except Exception:  # whatever is wrong with an entry, the database still answers
        log.error("API token cache: unreadable entry; reading the database", exc_info=True)
        return _TOMBSTONE


def _client_and_add_script():
    client = get_redis_connection("default")
    if "add" not in _scripts:
        _scripts["add"] = client.register_script(_ADD)
    return client, _scripts["add"]


def tokens_share(tokens: Iterable[Token]) -> None:
    """Share tokens (their users attached): just handed out, or just read from the database.

    Refused for a token or user with a tombstone: the row may have been read before the change
    that left it. Call handed-out tokens after their transaction committed.
    """
    # Only an active user's: a queue script acts for the user an entry names before the caller
    # is authenticated (queueing.api_user), so an entry must name only users who may act.
    tokens = [token for token in tokens if token.user.is_active]
    if not tokens:
        return
    try:
        client, add = _client_and_add_script()
        # One token (a first lookup) is one EVALSHA; a redis-py pipeline holding a script
        # would first ask the server whether it knows the script.
        with client.pipeline(transaction=False) if len(tokens) > 1 else nullcontext() as pipe:
            for token in tokens:
                add(
                    keys=[_shared_key(token.key), _user_tombstone_key(token.user_id)],
                    args=[_payload(token), _SHARED_SECONDS, _TOMBSTONE],
                    client=pipe or client,
                )
            if pipe is not None:
                pipe.execute()
    except RedisError:
        log.warning("API token cache unavailable; tokens not shared", exc_info=True)


def _shared_forget(keys: list[str], user_id: int | None = None) -> None:
    """Tombstones for these tokens (and the user): no worker shares their old rows again."""
    try:
        with get_redis_connection("default").pipeline(transaction=False) as pipe:
            if user_id is not None:
                pipe.set(_user_tombstone_key(user_id), _TOMBSTONE, ex=_TOMBSTONE_SECONDS)
            for key in keys:
                pipe.set(_shared_key(key), _TOMBSTONE, ex=_TOMBSTONE_SECONDS)
            pipe.execute()
    except RedisError:
        # Other processes then keep the old row until its entry expires (_SHARED_SECONDS).
        log.error("API token cache: could not forget %d token(s)", len(keys), exc_info=True)


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
    return sql, user_attnames()


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
    sql, _ = _lookup_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [key])
        row = cursor.fetchone()
    if row is None:
        return None
    return _token_from_row(key, row, user_attnames())


def forget_user(user_id: int) -> None:
    # list(): a threaded dev server may add entries while we look.
    for key, entry in list(_entries.items()):
        if entry[0].pk == user_id:
            _entries.pop(key, None)


def forget_now_and_on_commit(forget) -> None:
    """Forget at once, and again once the change commits: a lookup between the two (another
    thread of this process) may have remembered the row as it was before the change."""
    forget()
    transaction.on_commit(forget)


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, answering repeat keys from memory (and a key this request
    already looked up from that lookup)."""

    _current_request = None

    def authenticate(self, request):
        self._current_request = request  # DRF makes an instance per request
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        request = self._current_request
        found = token_user(key) if request is None else token_user_kept(request, key)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return found


@receiver(post_delete, sender=Token)
def _token_deleted(sender, instance, **kwargs):
    key = instance.key

    def forget():
        _entries.pop(key, None)
        _shared_forget([key])

    forget_now_and_on_commit(forget)


def only_sign_in_timestamp(update_fields) -> bool:
    """Whether a user's save wrote only a sign-in's timestamp: nothing authentication reads."""
    return update_fields is not None and set(update_fields) <= {"last_login"}


@receiver(post_save, sender=get_user_model())
def _user_saved(sender, instance, created=False, update_fields=None, **kwargs):
    user_id = instance.pk
    if created:  # no token names a user who did not exist
        forget_user(user_id)
        return
    if only_sign_in_timestamp(update_fields):
        return

    def forget():
        forget_user(user_id)
        # Read again each time: a token committed between the change and its commit is only
        # visible to the second reading, and must not keep the old row.
        keys = list(Token.objects.filter(user_id=user_id).values_list("key", flat=True))
        _shared_forget(keys, user_id)

    forget_now_and_on_commit(forget)
