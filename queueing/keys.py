"""Redis key names of the waiting rooms: the only place they are spelled out."""

from dataclasses import dataclass

from django.conf import settings

# Scores of the waiting set: a pre-queue place scores its draw key, below this; a place taken
# once the sale is open scores this plus its arrival number, so it always stands behind them.
FIFO_BASE = 2**52
# Waiters' poll times sit in small hashes of this many users each: Redis keeps a hash that small
# packed in one block (listpack), far smaller per field than a sorted set's member. Redis's
# hash-max-listpack-entries must be at least this (its default is).
POLL_BUCKET = 128
# The status script lets a place poll once per this many ms, a few polls ahead aside: under the
# shortest poll_after_seconds (1 s) by the 20% the waiting room spreads its polls by.
POLL_MS = 800
# The console's chart keeps this many minutes of a room's history.
HISTORY_MINUTES = 60


def room_name(concert_id: int | None) -> str:
    """The room's name in keys and tokens: the site-wide room, or "c<concert id>"."""
    return settings.QUEUE_ROOM if concert_id is None else f"c{concert_id}"


@dataclass(frozen=True)
class RoomKeys:
    """The keys of one room. Scripts receive them in exactly this order (see `as_list`)."""

    waiting: str  # zset: user id -> draw key (pre-queue) or FIFO_BASE + arrival number
    active: str  # zset: admitted user id -> when the slot lapses (ms since epoch)
    places: str  # hash: admitted user id -> the score their place had (the token's stamp)
    arrivals: str  # string: INCR counter handing out arrival numbers
    admissions: str  # hash: second -> users admitted in that second (last minute only)
    stats: str  # hash: admission rate, all-time admissions, the sale start already drawn
    draw: str  # zset: the pre-queue as drawn at the start (kept for publication)
    free: str  # string: free seats of the room's concert, as booking last counted them
    waits: str  # list: the waits of the latest admissions (ms), newest first
    sweep: str  # string: where the incremental sweep for abandoned waiters goes on
    polls: str  # prefix of the poll hashes: <polls><user id // POLL_BUCKET>
    ends: str  # hash: admitted user id -> session end (ms); `active` holds the idle deadline
    # hash: "w<minute>" -> waiting at that minute's last tick, "a<minute>" -> admitted in it
    # (minutes since the epoch; the last HISTORY_MINUTES only)
    history: str

    def as_list(self) -> list[str]:
        return [
            self.waiting,
            self.active,
            self.places,
            self.arrivals,
            self.admissions,
            self.stats,
            self.draw,
            self.free,
            self.waits,
            self.sweep,
            self.ends,
            self.history,
        ]

    def poll(self, user_id: int) -> str:
        return f"{self.polls}{user_id // POLL_BUCKET}"


def room_keys(room: str) -> RoomKeys:
    """Keys of `room`. The room sits in a hash tag, so every key of a room lands on one Redis
    Cluster slot (one script may touch them all) and different rooms spread over the slots."""
    base = f"{settings.QUEUE_KEY_PREFIX}:{{{room}}}"
    return RoomKeys(
        waiting=f"{base}:waiting",
        active=f"{base}:active",
        places=f"{base}:places",
        arrivals=f"{base}:arrivals",
        admissions=f"{base}:admissions",
        stats=f"{base}:stats",
        draw=f"{base}:draw",
        free=f"{base}:free",
        waits=f"{base}:waits",
        sweep=f"{base}:sweep",
        polls=f"{base}:poll:",
        ends=f"{base}:ends",
        history=f"{base}:history",
    )
