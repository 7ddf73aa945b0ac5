"""The queue gate: which paths it guards, what it answers, and its one Redis round trip."""

import time
from contextlib import contextmanager

import pytest
import redis
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from booking.tests.factories import ConcertFactory, ScheduleFactory, SeatFactory
from queueing import services
from queueing.middleware import is_gated
from queueing.testing import admit
from queueing.tests.conftest import first_script_call_fails
from queueing.web import SESSION_KEY

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/api/concerts/1/available-dates",
        "/api/concerts/12/schedules/34/available-seats",
        "/api/reservation",
        "/api/reservation/",
        "/api/reservation/holds",
        "/api/reservation/holds/9/pay",
        "/book/concerts/1/dates",
        "/book/schedules/3/seats",
    ],
)
def test_gated_paths(path):
    assert is_gated(path)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api/auth/token",
        "/api/concerts",
        "/api/concerts/1",
        "/api/users/1/balance",
        "/api/reservations",
        "/api/queue/tokens",
        "/api/queue/tokens/current",
        "/api/docs",
        "/api/schema",
        "/api/health",
        "/admin/",
        "/static/css/site.css",
        "/accounts/login/",
        "/queue/",
        "/concerts/1",
        "/booking",
        # No view answers these (the id converter refuses them): a plain 404, not the gate.
        "/api/concerts/abc/available-dates",
        "/api/concerts/1234567890123456789/available-dates",
        "/api/concerts/1/schedules/x/available-seats",
    ],
)
def test_open_paths(path):
    assert not is_gated(path)


def test_open_paths_need_no_token(api_client):
    assert api_client.get("/api/concerts").status_code == 200
    assert api_client.get("/api/health").status_code == 200


def test_anonymous_gets_401(api_client):
    response = api_client.get("/api/concerts/1/available-dates")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_no_token(auth_client):
    response = auth_client.get("/api/concerts/1/available-dates")
    assert response.status_code == 403
    assert response.json()["code"] == "queue_token_required"


def test_waiting_token_cannot_pass(auth_client, user, other_user):
    services.queue_token_issue(user_id=other_user.pk)
    token = services.queue_token_issue(user_id=user.pk).token
    for path in ["/api/concerts/1/available-dates", "/api/reservation/holds"]:
        response = auth_client.get(path, HTTP_QUEUE_TOKEN=token)
        assert response.status_code == 403
        assert response.json() == {
            "code": "queue_not_admitted",
            "detail": response.json()["detail"],
            "position": 2,
        }


@pytest.mark.parametrize("forged", ["A" * 32, "", "🎫", "z" * 4000])
def test_forged_token(auth_client, user, forged):
    admit(user)
    response = auth_client.get("/api/concerts/1/available-dates", HTTP_QUEUE_TOKEN=forged)
    assert response.status_code == 403
    # An empty header is no token at all.
    expected = "queue_token_required" if forged == "" else "queue_token_invalid"
    assert response.json()["code"] == expected


def test_another_users_active_token(auth_client, other_user):
    theirs = admit(other_user)
    response = auth_client.get("/api/concerts/1/available-dates", HTTP_QUEUE_TOKEN=theirs)
    assert response.status_code == 403
    assert response.json()["code"] == "queue_token_invalid"


def test_expired_token(auth_client, user, queue_settings):
    queue_settings(session_seconds=1)
    token = admit(user)
    path = "/api/concerts/1/available-dates"
    assert auth_client.get(path, HTTP_QUEUE_TOKEN=token).status_code == 404  # through the gate
    time.sleep(1.1)
    response = auth_client.get(path, HTTP_QUEUE_TOKEN=token)
    assert response.status_code == 403
    assert response.json()["code"] == "queue_token_invalid"


def test_released_token(auth_client, user):
    token = admit(user)
    services.queue_release_user(user_id=user.pk)
    response = auth_client.get("/api/concerts/1/available-dates", HTTP_QUEUE_TOKEN=token)
    assert response.json()["code"] == "queue_token_invalid"


def test_admitted_user_passes(admitted_client):
    concert = ConcertFactory()
    response = admitted_client.get(f"/api/concerts/{concert.id}/available-dates")
    assert response.status_code == 200
    assert response.json() == []


def test_api_token_user_is_found_by_the_gate(user, other_user):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}",
        HTTP_QUEUE_TOKEN=admit(user),
    )
    assert client.get("/api/concerts/1/available-dates").status_code == 404  # no such concert
    # The same queue token with another user's API token is not theirs.
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other_user).key}",
        HTTP_QUEUE_TOKEN=admit(user),
    )
    assert client.get("/api/concerts/1/available-dates").json()["code"] == "queue_token_invalid"
    # A bad API token gets the answer DRF's token authentication would give.
    client.credentials(HTTP_AUTHORIZATION="Token nonsense", HTTP_QUEUE_TOKEN=admit(user))
    response = client.get("/api/concerts/1/available-dates")
    assert (response.status_code, response.json()["code"]) == (401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Token"


def test_session_user_with_token_in_session(user):
    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = admit(user)
    session.save()
    # Through the gate to the view (which answers 404: no such concert).
    assert client.get("/api/concerts/1/available-dates").status_code == 404


def test_pages_redirect_to_the_waiting_room(user, other_user):
    client = Client()
    client.force_login(user)
    response = client.get("/book/concerts/1/dates")
    assert response.status_code == 302
    assert response["Location"].startswith("/queue/?next=")

    services.queue_token_issue(user_id=other_user.pk)
    session = client.session
    session[SESSION_KEY] = services.queue_token_issue(user_id=user.pk).token
    session.save()
    assert client.get("/book/concerts/1/dates").status_code == 302  # waiting: not yet
    services.queue_promote()
    assert client.get("/book/concerts/1/dates").status_code != 302

    anonymous = Client().get("/book/concerts/1/dates")
    assert anonymous.status_code == 302


@contextmanager
def failing_over(*, reply: int):
    """Two-command pipelines answer MASTERDOWN for command `reply`, as Redis mid-failover does
    (in a pipeline an error reply is a value, not an exception)."""
    from redis.exceptions import MasterDownError

    original = redis.client.Pipeline.execute

    def execute(self, raise_on_error=True):
        replies = original(self, raise_on_error=raise_on_error)
        if not raise_on_error and len(replies) == 2:
            replies[reply] = MasterDownError("MASTERDOWN Link with MASTER is down")
        return replies

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redis.client.Pipeline, "execute", execute)
        yield


def _dates_path():
    schedule = ScheduleFactory()
    SeatFactory(schedule=schedule, number=1)
    return f"/api/concerts/{schedule.concert_id}/available-dates"


def test_a_gated_read_is_one_redis_round_trip(admitted_client, redis_round_trips):
    path = _dates_path()
    assert admitted_client.get(path).status_code == 200  # computes and stores the entry
    redis_round_trips.clear()
    response = admitted_client.get(path)
    assert response.status_code == 200 and len(response.json()) == 1
    assert len(redis_round_trips) == 1  # the gate's check and the cached read, one pipeline


def test_separate_queue_and_cache_servers_keep_two_round_trips(
    admitted_client, redis_round_trips, settings
):
    path = _dates_path()
    admitted_client.get(path)
    settings.QUEUE_REDIS_URL = settings.REDIS_URL + "?"  # another server, as far as we know
    redis_round_trips.clear()
    assert admitted_client.get(path).status_code == 200
    assert len(redis_round_trips) == 2


def test_a_gated_write_is_checked_before_its_view(auth_client, user, other_user, redis_round_trips):
    services.queue_token_issue(user_id=other_user.pk)
    token = services.queue_token_issue(user_id=user.pk).token
    redis_round_trips.clear()
    response = auth_client.post("/api/reservation/holds", {}, HTTP_QUEUE_TOKEN=token)
    assert (response.status_code, response.json()["code"]) == (403, "queue_not_admitted")
    assert len(redis_round_trips) == 1  # the gate alone: the view never ran


@pytest.mark.parametrize("shared", [True, False], ids=["one-server", "two-servers"])
def test_reads_are_refused_alike_with_one_or_two_servers(
    auth_client, user, other_user, settings, shared
):
    if not shared:
        settings.QUEUE_REDIS_URL = settings.REDIS_URL + "?"
    path = _dates_path()
    services.queue_token_issue(user_id=other_user.pk)
    token = services.queue_token_issue(user_id=user.pk).token
    response = auth_client.get(path, HTTP_QUEUE_TOKEN=token)
    assert response.status_code == 403
    assert {k: v for k, v in response.json().items() if k != "detail"} == {
        "code": "queue_not_admitted",
        "position": 2,
    }
    response = auth_client.get(path, HTTP_QUEUE_TOKEN="A" * 32)
    assert (response.status_code, response.json()["code"]) == (403, "queue_token_invalid")
    services.queue_promote()
    assert auth_client.get(path, HTTP_QUEUE_TOKEN=token).status_code == 200


def test_a_read_that_never_checks_is_refused_after_its_view(user, other_user):
    """The middleware has the last word: a gated GET whose view makes no Redis read still gets
    the refusal, never the view's answer."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from queueing.middleware import QueueGateMiddleware

    services.queue_token_issue(user_id=other_user.pk)
    token = services.queue_token_issue(user_id=user.pk).token
    views = []

    def view(request):
        views.append(request.path)
        return HttpResponse("the seat map")

    request = RequestFactory().get("/api/concerts/1/available-dates", HTTP_QUEUE_TOKEN=token)
    request.user = user
    response = QueueGateMiddleware(view)(request)
    assert views  # the read ran (it changes nothing)...
    assert response.status_code == 403 and b"queue_not_admitted" in response.content  # ...unseen


def test_an_error_reply_to_the_gate_in_a_read_refuses_with_503(auth_client, user, other_user):
    """In the read's pipeline an error reply is a value, not an exception: a server that cannot
    answer must refuse (503), never let the read through."""
    path = _dates_path()
    services.queue_token_issue(user_id=other_user.pk)
    token = services.queue_token_issue(user_id=user.pk).token
    with failing_over(reply=0):
        response = auth_client.get(path, HTTP_QUEUE_TOKEN=token)
    assert (response.status_code, response.json()["code"]) == (503, "queue_unavailable")


@pytest.mark.parametrize("shared", [True, False], ids=["one-server", "two-servers"])
def test_a_failing_gate_script_never_lets_a_read_through(
    auth_client, user, other_user, settings, shared
):
    """A script error (the tokens hash clobbered: WRONGTYPE inside gate.lua) is a bug and answers
    500, with one server or two; the gated body is never served."""
    from queueing.keys import queue_keys

    if not shared:
        settings.QUEUE_REDIS_URL = settings.REDIS_URL + "?"
    path = _dates_path()
    services.queue_token_issue(user_id=other_user.pk)
    token = services.queue_token_issue(user_id=user.pk).token
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(queue_keys().tokens)
    client.set(queue_keys().tokens, "not a hash")
    auth_client.raise_request_exception = False
    response = auth_client.get(path, HTTP_QUEUE_TOKEN=token)
    assert response.status_code == 500
    assert b"schedule_id" not in response.content


def _hold(client, seat_id: int):
    return client.post("/api/reservation/concerts", {"seat_id": seat_id}, format="json")


@pytest.mark.usefixtures("queue_scripts_loaded")
def test_a_write_by_a_caller_not_remembered_looks_the_token_up_in_the_gates_round_trip(
    user, redis_round_trips, settings, unremembered_client
):
    seats = SeatFactory.create_batch(2)
    client = unremembered_client(user, admit(user))
    redis_round_trips.clear()
    assert _hold(client, seats[0].id).status_code == 201
    assert len(redis_round_trips) == 1  # the gate script reads the shared entry itself
    # Control: with the queue on another server, the token and the gate are two round trips.
    from accounts import authentication

    authentication._entries.clear()
    settings.QUEUE_REDIS_URL = settings.REDIS_URL + "?"
    redis_round_trips.clear()
    assert _hold(client, seats[1].id).status_code == 201
    assert len(redis_round_trips) == 2


def test_a_remembered_callers_write_looks_its_api_token_up_once(
    user, unremembered_client, monkeypatch
):
    """The gate middleware and DRF's authentication both need the caller; the middleware's
    lookup is kept on the request, so the process memory is asked once (each answer is a copy
    of the remembered user)."""
    from accounts import authentication

    client = unremembered_client(user, admit(user))
    authentication.token_user(client._credentials["HTTP_AUTHORIZATION"].split()[1])
    calls = []
    real = authentication.token_user

    def counted(key, **kwargs):
        calls.append(key)
        return real(key, **kwargs)

    monkeypatch.setattr(authentication, "token_user", counted)
    assert _hold(client, SeatFactory().id).status_code == 201
    assert len(calls) == 1


@pytest.mark.parametrize("remembered", [True, False], ids=["remembered", "not-remembered"])
def test_writes_are_refused_alike_whether_the_caller_is_remembered_or_not(
    user, other_user, remembered, unremembered_client
):
    """The one-round-trip path answers exactly as the gate alone: waiting, someone else's
    token, a made-up token, an unknown API token, no queue token."""
    from accounts import authentication

    seat = SeatFactory()
    services.queue_token_issue(user_id=other_user.pk)
    waiting = services.queue_token_issue(user_id=user.pk).token
    others = admit(other_user)

    def answer(client):
        if remembered:
            authentication.token_user(client._credentials["HTTP_AUTHORIZATION"].split()[1])
        response = _hold(client, seat.id)
        body = response.json()
        return response.status_code, body["code"], body.get("position")

    assert answer(unremembered_client(user, waiting)) == (403, "queue_not_admitted", 1)
    assert answer(unremembered_client(user, others)) == (403, "queue_token_invalid", None)
    assert answer(unremembered_client(user, "A" * 32)) == (403, "queue_token_invalid", None)
    unknown = APIClient()
    unknown.credentials(HTTP_AUTHORIZATION="Token nonsense", HTTP_QUEUE_TOKEN=waiting)
    assert _hold(unknown, seat.id).status_code == 401
    no_queue_token = unremembered_client(user, None)
    assert answer(no_queue_token)[:2] == (403, "queue_token_required")
    not_shared = unremembered_client(user, waiting, shared=False)
    assert answer(not_shared) == (403, "queue_not_admitted", 1)


def test_when_the_gate_script_cannot_answer_for_the_api_token_the_gate_alone_decides(
    user, other_user, unremembered_client
):
    """An error reply (Redis mid-failover) or a server that forgot its scripts: the check is
    made again on its own, so a waiting user is still refused and an admitted one passes."""
    seat = SeatFactory()
    services.queue_token_issue(user_id=other_user.pk)
    waiting = services.queue_token_issue(user_id=user.pk).token
    client = unremembered_client(user, waiting)
    with first_script_call_fails() as failed:
        response = _hold(client, seat.id)
    assert failed and failed[0][-2:] == (waiting, "")  # the call for the API token's user
    assert (response.status_code, response.json()["code"]) == (403, "queue_not_admitted")

    services.queue_promote()
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).script_flush()
    assert _hold(unremembered_client(user, waiting), seat.id).status_code == 201
