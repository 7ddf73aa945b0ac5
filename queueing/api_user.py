"""A caller's API token looked up in the round trip of its first queue call in a process.

A worker that does not remember an API token's user reads the token's shared entry in Redis
(accounts.authentication) before the view runs, then the view calls a queue script: two round
trips for every poll or issue that lands on a worker new to the user, which with several workers
and polls seconds apart is most of them. When the queue and the cache share a Redis server, the
queue script itself reads the entry and acts for the user it names (store.run_as_entry_user);
the caller is then authenticated from that same entry, as DRF would authenticate it, and this
process remembers the user, so DRF's own lookup costs nothing. Whenever the script could not act
(nothing shared for the key, a tombstone, Redis away), the caller goes the ordinary way.
"""

from __future__ import annotations

from accounts.authentication import request_api_key, shared_key, token_remembered, token_user
from concertbooking.errors import ApplicationError
from queueing import gate, store
from queueing.errors import ApiTokenInvalid, QueueUnavailable


def key_to_look_up(request) -> str | None:
    """The request's API token key when this process does not remember its user and the lookup
    can ride in the queue's round trip; else None."""
    key = request_api_key(request)
    if key is None or token_remembered(key) or not gate.can_share_round_trips():
        return None
    return key


def run(name: str, api_key: str, *args: str | int) -> tuple[int, list] | None:
    """(user id, reply) of queue script `name` run for `api_key`'s user (the script's user id
    argument is left empty in `args`), or None when it did not run for the user the key
    authenticates: the caller then authenticates and calls the script the ordinary way.

    The script acts only for the user the key's shared entry names, and an entry exists only for
    a key that authenticated an active user (a revocation or a change to the user replaces it
    with a tombstone). Authentication from the same entry is the check that the two agree."""
    try:
        entry, replies = store.run_as_entry_user(name, shared_key(api_key), *args)
    except QueueUnavailable:
        return None
    if not replies:
        # No user named (nothing shared for the key yet, a tombstone, an unknown key): the
        # ordinary path looks the key up, in the database if need be, once.
        return None
    found = token_user(api_key, shared_reply=entry)
    if found is None:
        return None
    user_id = found[0].pk
    if entry.partition(b":")[0] != b"%d" % user_id:
        return None
    return user_id, replies[0]


def gate_check(*, api_key: str, token: str) -> ApplicationError | None:
    """The gate's check (gate.check) for a request whose API token is looked up in the check's
    own round trip; None lets it through. An API token that authenticates nobody is refused."""
    ran = run("gate", api_key, token, "")
    if ran is not None:
        return gate.refusal_for(*store.gate_verdict(ran[1]))
    found = token_user(api_key)
    if found is None:
        return ApiTokenInvalid()
    return gate.check(token=token, user_id=found[0].pk)
