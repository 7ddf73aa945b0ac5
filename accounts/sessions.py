"""Sessions read from the cache server, written to PostgreSQL and to the cache (Django's cached_db).

A signed-in browser sends its session cookie with every call: the waiting room polls its place
every few seconds for as long as it waits, and every page loads the session. With sessions in the
database alone, each of those calls paid one query for the session; read from Redis, it is one
GET, and PostgreSQL still holds every session, so a cache outage or a flushed cache loses none
(a miss reads the database and fills the cache again).

The cached copy lives at most CACHED_SECONDS. The cache client swallows its errors (settings:
IGNORE_EXCEPTIONS), so a sign-out while Redis is unreachable deletes the database row but may
leave the cached copy behind; should that Redis come back without having restarted, the copy
would sign the cookie in again. The cap bounds that to ten minutes, as the API token's shared
entries are bounded (accounts.authentication).
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
