"""The queue gate: which paths it guards, what it answers, and its one Redis round trip."""

import time

import pytest
import redis
from django.test import Client
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.services import api_token_create
from booking.tests.factories import ConcertFactory, ScheduleFactory, SeatFactory
from queueing import services
from queueing.gate import is_gated
from queueing.testing import admit, session_token_set

pytestmark = pytest.mark.django_db


GATED_VIEWS = {
    "api-available-dates",
    "api-available-seats",
    "api-best-available",
    "api-reservation-create",
    "api-payment-create",
    "booking-dates",
    "booking-seat-map",
    "booking-seat-hold",
    "booking-checkout",
    "booking-pay",
    "booking-release",
}


def _named_views(patterns=None, found=None):
    """(name, view) of every named route in the URL conf, includes followed."""
    found = {} if found is None else found
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            _named_views(pattern.url_patterns, found)
        elif pattern.name:
            found[pattern.name] = pattern.callback
    return found


def test_the_booking_flows_views_and_only_they_are_gated():
    views = _named_views()
    assert views.keys() >= GATED_VIEWS
    assert {name for name, view in views.items() if is_gated(view)} == GATED_VIEWS


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
    for path in ["/api/concerts/1/available-dates", "/api/reservation/concerts"]:
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
    services.queue_release_user(user_id=user.pk, room="main")
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
        HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)}",
        HTTP_QUEUE_TOKEN=admit(user),
    )
    assert client.get("/api/concerts/1/available-dates").status_code == 404  # no such concert
    # The same queue token with another user's API token is not theirs.
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {api_token_create(user=other_user)}",
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
    session_token_set(session, admit(user))
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
    session_token_set(session, services.queue_token_issue(user_id=user.pk).token)
    session.save()
    assert client.get("/book/concerts/1/dates").status_code == 302  # waiting: not yet
    services.queue_promote()
    assert client.get("/book/concerts/1/dates").status_code != 302

    anonymous = Client().get("/book/concerts/1/dates")
    assert anonymous.status_code == 302


def _dates_path():
    schedule = ScheduleFactory()
    SeatFactory(schedule=schedule, number=1)
    return f"/api/concerts/{schedule.concert_id}/available-dates"


def test_a_gated_read_is_the_gates_round_trip_and_the_caches(admitted_client, redis_round_trips):
    path = _dates_path()
    assert admitted_client.get(path).status_code == 200  # computes and stores the entry
    redis_round_trips.clear()
    response = admitted_client.get(path)
    assert response.status_code == 200 and len(response.json()) == 1
    assert len(redis_round_trips) == 2  # the gate's check, then the cached read


def test_a_gated_write_is_checked_before_its_view(auth_client, user, other_user, redis_round_trips):
    services.queue_token_issue(user_id=other_user.pk)
    token = services.queue_token_issue(user_id=user.pk).token
    redis_round_trips.clear()
    response = auth_client.post("/api/reservation/concerts", {}, HTTP_QUEUE_TOKEN=token)
    assert (response.status_code, response.json()["code"]) == (403, "queue_not_admitted")
    assert len(redis_round_trips) == 1  # the gate alone: the view never ran


def test_a_gated_read_is_refused_before_its_view(auth_client, user, other_user):
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


def test_a_failing_gate_script_never_lets_a_read_through(auth_client, user, other_user, settings):
    """A script error (the places hash clobbered: WRONGTYPE inside gate.lua) is a bug and answers
    500; the gated body is never served."""
    from queueing.keys import room_keys

    path = _dates_path()
    services.queue_token_issue(user_id=other_user.pk)
    token = services.queue_token_issue(user_id=user.pk).token
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(room_keys("main").places)
    client.set(room_keys("main").places, "not a hash")
    auth_client.raise_request_exception = False
    response = auth_client.get(path, HTTP_QUEUE_TOKEN=token)
    assert response.status_code == 500
    assert b"schedule_id" not in response.content
