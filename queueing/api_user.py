"""A caller's API token looked up in the round trip of its first queue call in a process.

A worker that does not remember an API token's user would read the token's shared entry in
Redis (accounts.authentication), then call a queue script: two round trips for every poll or
issue that lands on a worker new to the user, which with several workers and polls seconds apart
is most of them. When the queue and the cache share a Redis server, the queue script itself
reads the entry and acts for the user it names (store.run_as_entry_user). The caller is then
looked up from that same entry with token_user, the function DRF's token authentication calls,
and the answer is kept on the request for that authentication, so a key is looked up once per
request. The script's reply is used only when the user looked up is the one it acted for.
Entries name only active users (a revocation or a change to the user replaces an entry with a
tombstone); with no usable entry, or an error reply from Redis, the call goes the ordinary way.
Redis unreachable answers 503 at once, as the ordinary path would after a second timeout.

Polls and issues (their fast handlers, concertbooking.fastpath) and the gate's check of a write
go through run_for_caller.
"""

from __future__ import annotations

import redis

from accounts.authentication import (
    shared_key,
    token_remembered,
    token_user_for_request,
    token_user_kept,
)
from concertbooking.errors import ApplicationError
from queueing import gate, store
from queueing.errors import ApiTokenInvalid, QueueUnavailable

# Redis not answering at all, as opposed to answering with an error.
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


def lookup_can_ride_along(key: str) -> bool:
    """Whether the API token key's lookup can ride in a queue script's round trip: this process
    does not remember its user, and the queue and the cache share a server."""
    return not token_remembered(key) and gate.can_share_round_trips()


def run(request, name: str, api_key: str, *args: str | int) -> tuple[int, list] | None:
    """(user id, reply) of queue script `name` run for the user of `request`'s API token
    `api_key` (the script's user id argument is left empty in `args`), or None when it did not
    run for the user the key authenticates: the caller then calls the script the ordinary way,
    after authentication (which finds the key's lookup kept on the request). Raises
    QueueUnavailable when Redis does not answer."""
    try:
        entry, replies = store.run_as_entry_user(name, shared_key(api_key), *args)
    except QueueUnavailable as exc:
        if isinstance(exc.__cause__, UNREACHABLE):
            # The ordinary path would only wait out the same timeout again before its 503,
            # holding the worker twice as long while Redis is away.
            raise
        return None  # an error reply (mid-failover, out of memory): the ordinary path decides
    # The entry as read (None, a tombstone: the database answers, once for this request).
    found = token_user_for_request(request, api_key, shared_reply=entry)
    if not replies or found is None:
        return None
    user_id = found[0].pk
    if entry.partition(b":")[0] != b"%d" % user_id:
        return None
    return user_id, replies[0]


def run_for_caller(request, name: str, api_key: str, *args: str | int) -> tuple[int, list] | None:
    """(user id, reply) of queue script `name` run for the user `request`'s API token `api_key`
    authenticates, or None when the key authenticates nobody. The key is looked up in the
    script's own round trip when it can be (run), else first (kept on the request, as for
    DRF's authentication). `args` as for run. Raises QueueUnavailable, before the key is
    checked when Redis does not answer the first call (as run).

    An entry naming a user but holding a row nobody can read (written by hand, or by another
    release) has the script act for the user it names before the database decides about the
    key; entries are only written for active users and replaced by tombstones on a change."""
    if lookup_can_ride_along(api_key):
        ran = run(request, name, api_key, *args)
        if ran is not None:
            return ran
    found = token_user_kept(request, api_key)
    if found is None:
        return None
    user_id = found[0].pk
    return user_id, store.run_for_user(name, user_id, *args)


def gate_check(request, *, api_key: str, token: str) -> ApplicationError | None:
    """The gate's check (gate.check) for a request whose API token is looked up in the check's
    own round trip; None lets it through. An API token that authenticates nobody is refused."""
    try:
        ran = run_for_caller(request, "gate", api_key, token, "")
    except QueueUnavailable as exc:  # the store is away: nobody passes
        return exc
    if ran is None:
        return ApiTokenInvalid()
    return gate.refusal_for(*store.gate_verdict(ran[1]))
