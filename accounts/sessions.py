"""Sessions read from the cache server, written to PostgreSQL and to the cache (Django's cached_db).

A signed-in browser's every call reads its session (the waiting room polls every few seconds):
one GET on Redis, with PostgreSQL still holding every session, so a flushed cache loses none.
The cache swallows its errors (IGNORE_EXCEPTIONS): a sign-out while Redis is unreachable can
leave a cached copy behind, which CACHED_SECONDS bounds.
"""

from django.contrib.sessions.backends import cached_db

CACHED_SECONDS = 600


class _CappedCache:
    """The session cache, whose entries live at most CACHED_SECONDS whatever the session's age."""

    def __init__(self, cache):
        self._cache = cache

    def set(self, key, value, timeout=None, **kwargs):
        timeout = CACHED_SECONDS if timeout is None else min(timeout, CACHED_SECONDS)
        return self._cache.set(key, value, timeout, **kwargs)

    async def aset(self, key, value, timeout=None, **kwargs):
        timeout = CACHED_SECONDS if timeout is None else min(timeout, CACHED_SECONDS)
        return await self._cache.aset(key, value, timeout, **kwargs)

    def __getattr__(self, name):
        return getattr(self._cache, name)

    def __contains__(self, key):
        return key in self._cache


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = _CappedCache(self._cache)
