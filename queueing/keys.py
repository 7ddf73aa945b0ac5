"""Redis key names of the waiting queue: the only place they are spelled out."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class QueueKeys:
    """The keys of one room. Scripts receive them in exactly this order (see `as_list`)."""

    waiting: str  # zset: user id -> arrival number (FIFO; ZRANK is the position - 1)
    active: str  # zset: user id -> session expiry (ms since epoch)
    polled: str  # zset: waiting user id -> last poll (ms), for dropping abandoned waiters
    tokens: str  # hash: token -> user id
    users: str  # hash: user id -> "<token>:<issued at ms>"
    arrivals: str  # string: INCR counter handing out arrival numbers
    admissions: str  # hash: second -> users admitted in that second (last minute only)
    stats: str  # hash: admission rate per second and the all-time admission count

    def as_list(self) -> list[str]:
        return [
            self.waiting,
            self.active,
            self.polled,
            self.tokens,
            self.users,
            self.arrivals,
            self.admissions,
            self.stats,
        ]


def queue_keys(room: str | None = None) -> QueueKeys:
    """Keys of `room` (the site-wide room by default).

    The room sits in a hash tag, so every key of a room lands on one Redis Cluster slot and one
    script can touch them all; a room per concert later is a different `room` argument.
    """
    base = f"{settings.QUEUE_KEY_PREFIX}:{{{room or settings.QUEUE_ROOM}}}"
    return QueueKeys(
        waiting=f"{base}:waiting",
        active=f"{base}:active",
        polled=f"{base}:polled",
        tokens=f"{base}:tokens",
        users=f"{base}:users",
        arrivals=f"{base}:arrivals",
        admissions=f"{base}:admissions",
        stats=f"{base}:stats",
    )
