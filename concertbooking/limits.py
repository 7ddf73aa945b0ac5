"""Rate limits: one counter per scope and caller in Redis, shared by the API's throttle and the
pages' decorator, so a caller's API calls and form posts spend one allowance.

A limit is a fixed window per key (the client address, and the user: the signed-in user, or the
username tried for a sign-in), counted by one Lua script: it refuses without counting when any
of the request's keys is spent, else counts them all, in one atomic round trip. The counters live
in the cache's Redis, and a Redis outage lets requests through: a limit is a safeguard, and
signing in, signing up or topping up must not stop with the cache (the queue's own operations
fail with the queue's Redis anyway).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_redis import get_redis_connection
from rest_framework.throttling import BaseThrottle

from concertbooking.http import client_ip
from concertbooking.pages import local_path

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"(\d+)/(\d*)([smhd])")

# KEYS: the request's counters; ARGV: each one's limit and window ms, in turn.
# Returns 0 once counted, else the ms until the fullest spent counter's window ends.
_COUNT = """
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      ttl = tonumber(ARGV[2 * i])
      redis.call('PEXPIRE', key, ttl)
    end
    wait = math.max(wait, ttl)
  end
end
if wait > 0 then
  return wait
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[2 * i])
  end
end
return 0
"""


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


@functools.cache
def rate_parse(text: str) -> Rate | None:
    """ "10/m" (ten a minute), "5/10s", "100/d"; None for "off" (no limit)."""
    text = text.strip().lower()
    if text in ("off", "none"):
        return None
    match = _RATE.fullmatch(text)
    if match is None or int(match[1]) < 1:
        raise ImproperlyConfigured(
            f"A rate is '<count>/<s|m|h|d>' with a count of at least 1, or 'off'; not {text!r}."
        )
    return Rate(count=int(match[1]), seconds=int(match[2] or 1) * _PERIODS[match[3]])


def _ident(user: int | str) -> str:
    if isinstance(user, int):
        return str(user)
    # A username tried at sign-in is the client's text, read as sign-in reads it (the form's
    # NFKC and strip, the API's strip) and without case, so no spelling of one name gets a
    # fresh allowance; hashed, it makes a short, plain key.
    name = unicodedata.normalize("NFKC", user).strip().casefold()
    return hashlib.sha256(name.encode()).hexdigest()[:32]


@functools.cache
def _script(client: redis.Redis):
    return client.register_script(_COUNT)


def rate_limit_count(*, scope: str, ip: str, user: int | str | None = None) -> int:
    """Count one request of `scope` from `ip` (and `user`, where the scope limits users): 0 when
    it may go on, else the whole seconds until it may (nothing is counted then)."""
    if not settings.RATE_LIMITS_ENABLED:
        return 0
    rates = settings.RATE_LIMITS[scope]
    keys, args = [], []
    for kind, ident in (("ip", ip), ("user", user)):
        rate = rate_parse(rates[kind]) if kind in rates and ident is not None else None
        if rate is not None:
            keys.append(f"{settings.CACHE_KEY_PREFIX}:limit:{scope}:{kind}:{_ident(ident)}")
            args += [rate.count, rate.seconds * 1000]
    if not keys:
        return 0
    client = get_redis_connection("default")
    try:
        wait_ms = _script(client)(keys=keys, args=args, client=client)
    # ResponseError too: a replica read-only in a failover must not turn limits into 500s.
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
        logger.warning("rate limit %s not counted: Redis unavailable", scope, exc_info=True)
        return 0
    return math.ceil(wait_ms / 1000)


def signed_in_user(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


def rate_limited(scope: str, *, user: Callable[[HttpRequest], int | str | None] = signed_in_user):
    """Pages: count each POST to the view in `scope` (by address and `user(request)`); past a
    limit the buyer gets the 429 page saying how long to wait, and the view does not run."""

    def decorator(view):
        @functools.wraps(view)
        def limited(request, *args, **kwargs):
            if request.method == "POST":
                wait = rate_limit_count(scope=scope, ip=client_ip(request), user=user(request))
                if wait:
                    return too_many_requests_page(request, wait)
            return view(request, *args, **kwargs)

        return limited

    return decorator


def too_many_requests_page(request: HttpRequest, wait: int) -> HttpResponse:
    referer = urlsplit(request.META.get("HTTP_REFERER", ""))
    back = referer.path if referer.netloc == request.get_host() else None
    if referer.query and back:
        back = f"{back}?{referer.query}"
    back = local_path(request, back) or (request.path if request.method == "GET" else "/")
    response = render(request, "429.html", {"wait": wait, "back": back}, status=429)
    response["Retry-After"] = str(wait)
    return response


class RateLimitThrottle(BaseThrottle):
    """API views: `throttle_classes = [RateLimitThrottle]` with `throttle_scope`; counts the
    caller's address and signed-in user. A refusal is DRF's Throttled, rendered 429
    `rate_limited` with Retry-After by concertbooking.api.exception_handler."""

    def allow_request(self, request, view) -> bool:
        self.seconds = rate_limit_count(
            scope=view.throttle_scope, ip=client_ip(request), user=self.user_of(request)
        )
        return not self.seconds

    def user_of(self, request) -> int | str | None:
        return signed_in_user(request)

    def wait(self) -> float | None:
        return self.seconds


class SignInThrottle(RateLimitThrottle):
    """Sign-in counts the username tried, so guesses at one account from many addresses stop
    too."""

    def user_of(self, request) -> str | None:
        data = request.data
        name = data.get("username") if isinstance(data, dict) else None
        # A JSON number is a name too: the serializer reads 12345 as "12345".
        if isinstance(name, int | float) and not isinstance(name, bool):
            name = str(name)
        return name if isinstance(name, str) and name.strip() else None


def username_tried(request: HttpRequest) -> str | None:
    """Pages: the username a sign-in form posts."""
    return request.POST.get("username") or None
