"""Proof of work asked of a sign-up: a signed challenge the browser answers with a nonce whose
SHA-256 starts with SIGNUP_CHALLENGE_BITS zero bits (static/js/signup-proof.js).

Self-hosted and offline: the challenge is signed with SECRET_KEY, so no state is kept until it
is used; a used challenge is remembered in the shared cache until it expires, so it is good once.
"""

import hashlib
import secrets
import time

from django.conf import settings
from django.core import signing
from django.core.cache import cache

_SIGNER = signing.Signer(salt="accounts.signup-proof")


def challenge_issue() -> dict:
    """A fresh challenge, and how many leading zero bits its answer needs."""
    bits = settings.SIGNUP_CHALLENGE_BITS
    expires = int(time.time()) + settings.SIGNUP_CHALLENGE_SECONDS
    return {
        "challenge": _SIGNER.sign(f"{bits}.{expires}.{secrets.token_hex(16)}"),
        "bits": bits,
    }


def _leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def answer_digest(challenge: str, nonce: str) -> bytes:
    return hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()


def proof_error(challenge: str, nonce: str) -> str | None:
    """Why this answer does not prove the work (None when it does). A good answer is marked
    used; a cache that cannot remember it refuses it, so no proof is good twice."""
    try:
        bits, expires, salt = _SIGNER.unsign(challenge).split(".")
    except (signing.BadSignature, ValueError):
        return "The check that you are a person did not run. Please try again."
    remaining = int(expires) - int(time.time())
    if remaining <= 0:
        return "The check that you are a person expired. Please submit the form again."
    if not nonce.isdigit() or _leading_zero_bits(answer_digest(challenge, nonce)) < int(bits):
        return "The check that you are a person did not finish. Please try again."
    if not cache.add(f"signup-proof:{salt}", 1, remaining):
        return "That check was already used. Please submit the form again."
    return None
