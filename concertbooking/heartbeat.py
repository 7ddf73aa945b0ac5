"""The beat heartbeat: each promotion tick stamps the time, and readiness reads how old it is."""

import time

from django.core.cache import cache

HEARTBEAT_KEY = "beat:heartbeat"


def heartbeat_mark() -> None:
    # A day's timeout: an old stamp must stay readable as old, not vanish as if never set.
    cache.set(HEARTBEAT_KEY, time.time(), timeout=86400)


def heartbeat_age() -> float | None:
    """Seconds since the last tick stamped the heartbeat; None when none is known."""
    stamp = cache.get(HEARTBEAT_KEY)
    return None if stamp is None else max(0.0, time.time() - stamp)
