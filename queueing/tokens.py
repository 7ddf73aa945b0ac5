"""Queue tokens and draw keys: what a place is called outside Redis.

A token is "<room>.<stamp>.<mac>": the room it admits to, the score its place got, and an HMAC of
both with the user's id. Redis keeps no token: the gate checks the MAC here, then asks Redis
whether the user's place still has that stamp. A pre-queue place's score is its draw key, a
function of the room's seed and the place's public draw id alone (see README, "Verifying a draw").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from django.utils.crypto import salted_hmac

from queueing.keys import FIFO_BASE

# 16 bytes of HMAC-SHA256: 128 bits, far past guessing, and 22 characters in a header.
_MAC_BYTES = 16
_TOKEN = re.compile(r"([A-Za-z0-9]+)\.([0-9]{1,17})\.([A-Za-z0-9_-]{22})", re.ASCII)
# A draw key is the first 52 bits (13 hex digits) of SHA-256: a zset score holds them exactly.
_DRAW_KEY_HEX = 13


@dataclass(frozen=True)
class TokenPlace:
    room: str
    stamp: int


def _mac(room: str, user_id: int, stamp: int) -> str:
    digest = salted_hmac(
        "queueing.tokens", f"{room}.{user_id}.{stamp}", algorithm="sha256"
    ).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_make(*, room: str, user_id: int, stamp: int) -> str:
    return f"{room}.{stamp}.{_mac(room, user_id, stamp)}"


def token_read(token: str, *, user_id: int) -> TokenPlace | None:
    """The room and stamp `token` names, if it was made for `user_id`; else None."""
    # ASCII only: str.isdigit() also takes "²", which int() refuses, and compare_digest() refuses
    # any non-ASCII text.
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    room, stamp, mac = match[1], int(match[2]), match[3]
    if stamp >= 2 * FIFO_BASE or not hmac.compare_digest(mac, _mac(room, user_id, stamp)):
        return None
    return TokenPlace(room=room, stamp=stamp)


def draw_id(*, room: str, user_id: int) -> str:
    """A place's public name in the draw: one per user and room, and not their user id."""
    return salted_hmac("queueing.draw", f"{room}.{user_id}", algorithm="sha256").hexdigest()[:16]


def draw_key(*, seed: str, draw_id: str) -> int:
    """Where a draw id stands in the pre-queue's order: lowest first."""
    digest = hashlib.sha256(f"{seed}:{draw_id}".encode()).hexdigest()
    return int(digest[:_DRAW_KEY_HEX], 16)


def seed_hash(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()
