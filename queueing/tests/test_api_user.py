"""A caller's first queue call in a process: the API token is looked up in the queue script's own
round trip (queueing.api_user), and everything answers as the ordinary two round trips do."""

import pickle

import pytest
import redis

from accounts import authentication
from queueing import services, store
from queueing.keys import queue_keys
from queueing.testing import admit
from queueing.tests.conftest import first_script_call_fails

pytestmark = pytest.mark.django_db

STATUS = "/api/queue/tokens/current"
ISSUE = "/api/queue/tokens"


def _redis() -> redis.Redis:
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)


def _key(client) -> str:
    return client._credentials["HTTP_AUTHORIZATION"].split()[1]


def _answer(response) -> tuple:
    body = response.json()
    return response.status_code, body.get("code"), body.get("status"), body.get("position")


def _last_poll(user) -> float | None:
    return _redis().zscore(queue_keys().polled, user.pk)


@pytest.mark.usefixtures("queue_scripts_loaded")
def test_a_poll_by_a_caller_not_remembered_is_one_round_trip(
    user, other_user, unremembered_client, redis_round_trips, settings
):
    services.queue_token_issue(user_id=other_user.pk)
    token = services.queue_token_issue(user_id=user.pk).token
    client = unremembered_client(user, token)
    redis_round_trips.clear()
    response = client.get(STATUS)
    assert _answer(response) == (200, None, "waiting", 2)
    assert response.json()["token"] == token
    assert len(redis_round_trips) == 1
    # Remembered now: the next poll is the status script alone, in its ordinary form.
    redis_round_trips.clear()
    assert client.get(STATUS).status_code == 200
    assert len(redis_round_trips) == 1
    assert store.script("status").sha.encode() in b"".join(redis_round_trips[0])
    # A queue token too long to be one: no script at all.
    too_long = unremembered_client(user, "A" * 200)
    redis_round_trips.clear()
    response = too_long.get(STATUS)
    assert _answer(response)[:2] == (403, "queue_token_invalid")
    assert not any(b"EVALSHA" in b"".join(sent) for sent in redis_round_trips)
    # Control: with the queue on another server, the lookup and the poll are two round trips.
    authentication._entries.clear()
    settings.QUEUE_REDIS_URL = settings.REDIS_URL + "?"
    redis_round_trips.clear()
    assert _answer(client.get(STATUS)) == (200, None, "waiting", 2)
    assert len(redis_round_trips) == 2


@pytest.mark.usefixtures("queue_scripts_loaded")
def test_an_issue_by_a_caller_not_remembered_is_one_round_trip(
    user, other_user, unremembered_client, redis_round_trips
):
    services.queue_token_issue(user_id=other_user.pk)
    client = unremembered_client(user, None)
    redis_round_trips.clear()
    response = client.post(ISSUE)
    assert _answer(response) == (201, None, "waiting", 2)
    assert len(redis_round_trips) == 1
    # The place is the user's own: the ordinary path finds it again.
    assert services.queue_token_issue(user_id=user.pk).token == response.json()["token"]


@pytest.mark.parametrize("remembered", [True, False], ids=["remembered", "not-remembered"])
def test_polls_answer_alike_whether_the_caller_is_remembered_or_not(
    user, other_user, unremembered_client, remembered
):
    services.queue_token_issue(user_id=other_user.pk)
    waiting = services.queue_token_issue(user_id=user.pk).token
    others = services.queue_token_issue(user_id=_third_user().pk).token

    def poll(queue_token, **kwargs):
        client = unremembered_client(user, queue_token, **kwargs)
        if remembered:
            authentication.token_user(_key(client))
        return _answer(client.get(STATUS))

    assert poll(waiting) == (200, None, "waiting", 2)
    assert poll(waiting, shared=False) == (200, None, "waiting", 2)
    assert poll(others) == (403, "queue_token_invalid", None, None)
    assert poll("A" * 32) == (403, "queue_token_invalid", None, None)
    assert poll("A" * 200) == (403, "queue_token_invalid", None, None)
    assert poll(None) == (403, "queue_token_required", None, None)
    services.queue_promote()
    assert poll(waiting)[:3] == (200, None, "active")


def _third_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username="carol", password="pw-carol-123")


def test_a_poll_with_someone_elses_queue_token_keeps_nothing_alive(
    user, other_user, unremembered_client
):
    """The script acts for the user the API token names: another user's queue token is refused
    without touching that user's place, and for an unknown API token the script names nobody
    and does nothing."""
    from rest_framework.test import APIClient

    theirs = services.queue_token_issue(user_id=other_user.pk).token
    _redis().zadd(queue_keys().polled, {other_user.pk: 1}, xx=True)
    response = unremembered_client(user, theirs).get(STATUS)
    assert _answer(response) == (403, "queue_token_invalid", None, None)
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token nonsense", HTTP_QUEUE_TOKEN=theirs)
    assert stranger.get(STATUS).status_code == 401
    assert _last_poll(other_user) == 1


def test_a_revoked_api_token_is_refused_and_takes_no_place(user, unremembered_client):
    """Revoking leaves a tombstone in the token's entry: the script names no user, and the
    database refuses the key."""
    from rest_framework.authtoken.models import Token

    client = unremembered_client(user, None)
    Token.objects.filter(user=user).delete()
    authentication._entries.clear()
    assert _redis().get(authentication.shared_key(_key(client))) == b"-"
    assert client.post(ISSUE).status_code == 401
    assert client.get(STATUS, HTTP_QUEUE_TOKEN="A" * 32).status_code == 401
    assert _redis().hget(queue_keys().users, user.pk) is None


def test_an_issue_refused_takes_no_place(user, unremembered_client):
    """A body with a field to refuse, an answer format the API cannot give."""
    response = unremembered_client(user, None).post(ISSUE, {"concert": 1}, format="json")
    assert response.status_code == 400
    response = unremembered_client(user, None).post(ISSUE, HTTP_ACCEPT="application/xml")
    assert _answer(response)[:2] == (406, "not_acceptable")
    assert _redis().hget(queue_keys().users, user.pk) is None


def test_an_answer_is_only_ever_the_authenticated_users(user, other_user, unremembered_client):
    """The caller is authenticated from the entry's row; the script acted for the user id the
    entry starts with. When the two disagree (an entry written by hand in Redis), the script's
    reply is dropped and the caller gets their own place."""
    client = unremembered_client(user, None)
    entry_key = authentication.shared_key(_key(client))
    entry = _redis().get(entry_key)
    _redis().set(entry_key, b"%d:%b" % (other_user.pk, entry.partition(b":")[2]))
    response = client.post(ISSUE)
    assert response.status_code == 201
    assert services.queue_token_issue(user_id=user.pk).token == response.json()["token"]


def test_an_inactive_users_token_is_never_shared_and_takes_no_place(
    user, unremembered_client, settings
):
    """api_tokens hands out keys in bulk, inactive users included: their entries are not
    written, so no script acts for them before authentication refuses them."""
    from accounts.services import api_tokens_issue

    user.is_active = False
    user.save()
    key = api_tokens_issue(usernames=[user.username])[user.username]
    client = unremembered_client(user, None, shared=False)
    assert _key(client) == key
    authentication.tokens_share([authentication._token_with_user(key)])
    assert _redis().get(authentication.shared_key(key)) is None
    assert client.post(ISSUE).status_code == 401
    assert _redis().hget(queue_keys().users, user.pk) is None


def test_a_token_header_drf_does_not_read_never_acts_for_its_key(
    user, other_user, unremembered_client
):
    """`Token\xa0<key>` splits into two words as text, one as the bytes DRF splits: DRF then
    authenticates by session. The key is not the caller's: no place for the key's user, and the
    gate checks the session user, not the key's (who is admitted)."""
    from django.test import Client

    from booking.tests.factories import SeatFactory

    key = _key(unremembered_client(user, None))
    admitted = admit(user)
    _redis().hdel(queue_keys().users, user.pk)  # no place, so an issue would show
    authentication._entries.clear()
    browser = Client()
    browser.force_login(other_user)
    header = {"HTTP_AUTHORIZATION": f"Token\xa0{key}"}
    response = browser.post(ISSUE, content_type="application/json", **header)
    assert response.status_code == 201  # the session user's place
    assert _redis().hget(queue_keys().users, user.pk) is None
    seat = SeatFactory()
    response = browser.post(
        "/api/reservation/concerts",
        {"seat_id": seat.id},
        content_type="application/json",
        HTTP_QUEUE_TOKEN=admitted,
        **header,
    )
    assert _answer(response)[:2] == (403, "queue_token_invalid")


@pytest.mark.usefixtures("queue_scripts_loaded")
def test_a_key_is_looked_up_once_per_request(
    user, unremembered_client, redis_round_trips, django_assert_num_queries
):
    """Nothing shared for the key: the script names nobody, the database answers once, the user
    is shared, and the poll goes the ordinary way (three round trips, as before the first call
    carried the lookup). An unknown key: one query, 401."""
    from rest_framework.test import APIClient

    from queueing.selectors import queue_config

    token = services.queue_token_issue(user_id=user.pk).token
    queue_config()  # the operator settings, read once per few seconds, are not counted
    client = unremembered_client(user, token, shared=False)
    redis_round_trips.clear()
    with django_assert_num_queries(1):
        assert client.get(STATUS).status_code == 200
    assert len(redis_round_trips) == 3
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token nonsense", HTTP_QUEUE_TOKEN=token)
    with django_assert_num_queries(1):
        assert stranger.get(STATUS).status_code == 401
    with django_assert_num_queries(1):
        assert stranger.post(ISSUE).status_code == 401


def test_an_entry_written_before_the_user_id_prefix_is_still_read(user, unremembered_client):
    """A rolling deploy: entries shared by the previous release are bare pickles. The script
    names no user from them, and authentication still reads them."""
    client = unremembered_client(user, admit(user))
    entry_key = authentication.shared_key(_key(client))
    entry = _redis().get(entry_key)
    assert entry.startswith(b"%d:" % user.pk)
    bare = entry.partition(b":")[2]
    assert pickle.loads(bare)
    _redis().set(entry_key, bare, keepttl=True)
    found = authentication.token_user(_key(client))
    assert found is not None and found[0].pk == user.pk
    authentication._entries.clear()
    assert _answer(client.get(STATUS))[:3] == (200, None, "active")


def test_a_server_that_forgot_its_scripts_or_is_away(user, unremembered_client, queue_redis_at):
    token = services.queue_token_issue(user_id=user.pk).token
    _redis().script_flush()
    assert _answer(unremembered_client(user, token).get(STATUS))[:3] == (200, None, "waiting")
    # The queue away (one server for both, as configured): 503, as on the ordinary path.
    client = unremembered_client(user, token)
    queue_redis_at("redis://127.0.0.1:1/0", cache_too=True)
    assert _answer(client.get(STATUS))[:2] == (503, "queue_unavailable")


def test_a_poll_or_issue_whose_first_call_fails_over_goes_the_ordinary_way(
    user, other_user, unremembered_client
):
    services.queue_token_issue(user_id=other_user.pk)
    token = services.queue_token_issue(user_id=user.pk).token
    with first_script_call_fails() as failed:
        response = unremembered_client(user, token).get(STATUS)
    assert failed and _answer(response) == (200, None, "waiting", 2)
    with first_script_call_fails() as failed:
        response = unremembered_client(user, None).post(ISSUE)
    assert failed and _answer(response) == (200, None, "waiting", 2)
    assert response.json()["token"] == token


def test_a_queue_that_does_not_answer_is_waited_for_once(user, unremembered_client, settings):
    """Redis accepting connections and never answering (a hung server): the first call's
    timeout answers 503 at once instead of running the script again the ordinary way, which
    would hold the worker for a second timeout."""
    import socket
    import threading

    from concertbooking.redis import queue_redis

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    connections: list[socket.socket] = []

    def accept_and_never_answer():
        while True:
            try:
                connections.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept_and_never_answer, daemon=True).start()
    token = services.queue_token_issue(user_id=user.pk).token
    poller, issuer = unremembered_client(user, token), unremembered_client(user, None)
    hung = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    settings.REDIS_URL = settings.QUEUE_REDIS_URL = hung
    queue_redis.cache_clear()
    try:
        poll = poller.get(STATUS)
        authentication._entries.clear()
        issue = issuer.post(ISSUE)
    finally:
        queue_redis.cache_clear()
        listener.close()
        for connection in connections:
            connection.close()
    assert _answer(poll)[:2] == _answer(issue)[:2] == (503, "queue_unavailable")
    # One attempt per request (each opens a connection, whose first command never returns).
    assert len(connections) == 2
