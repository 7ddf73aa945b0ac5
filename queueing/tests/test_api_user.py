"""A caller's first queue call in a process: the API token is looked up in the queue script's own
round trip (queueing.api_user), and everything answers as the ordinary two round trips do."""

import pickle

import pytest
import redis

from accounts import authentication
from queueing import services
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
    # Remembered now: the next poll is the status script alone.
    redis_round_trips.clear()
    assert client.get(STATUS).status_code == 200
    assert len(redis_round_trips) == 1
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
    without touching that user's place, and an unknown API token runs no script at all."""
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


def test_an_entry_naming_another_user_than_its_row_is_not_trusted(
    user, other_user, unremembered_client
):
    """The script acts for the user id the entry starts with, the caller is authenticated from
    the row: when they disagree the caller's answer is never the other user's."""
    client = unremembered_client(user, None)
    entry_key = authentication.shared_key(_key(client))
    entry = _redis().get(entry_key)
    _redis().set(entry_key, b"%d:%b" % (other_user.pk, entry.partition(b":")[2]))
    response = client.post(ISSUE)
    assert response.status_code == 201
    assert services.queue_token_issue(user_id=user.pk).token == response.json()["token"]


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


def test_a_server_that_forgot_its_scripts_or_is_away(user, unremembered_client, settings):
    from concertbooking.redis import queue_redis

    token = services.queue_token_issue(user_id=user.pk).token
    _redis().script_flush()
    assert _answer(unremembered_client(user, token).get(STATUS))[:3] == (200, None, "waiting")
    # The queue away (one server for both, as configured): 503, as on the ordinary path.
    client = unremembered_client(user, token)
    settings.REDIS_URL = settings.QUEUE_REDIS_URL = "redis://127.0.0.1:1/0"
    queue_redis.cache_clear()
    try:
        response = client.get(STATUS)
    finally:
        queue_redis.cache_clear()
    assert _answer(response)[:2] == (503, "queue_unavailable")


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
