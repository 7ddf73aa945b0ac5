"""Queue API: shapes, 201 versus 200, the token header, and the error codes."""

import time

import pytest

from accounts.services import api_token_create
from queueing import services

pytestmark = pytest.mark.django_db

TICKET_FIELDS = {
    "token",
    "status",
    "position",
    "estimated_wait_seconds",
    "poll_after_seconds",
    "expires_at",
    "concert_id",
    "sale_starts_at",
    "draw_id",
    "chance_of_seat",
}


def test_issue_then_reissue(auth_client, other_user):
    services.queue_token_issue(user_id=other_user.pk)
    first = auth_client.post("/api/queue/tokens")
    assert first.status_code == 201, first.content
    body = first.json()
    assert set(body) == TICKET_FIELDS
    assert body["status"] == "waiting"
    assert body["position"] == 2
    assert body["estimated_wait_seconds"] >= 1
    assert body["poll_after_seconds"] >= 1
    assert body["expires_at"]

    again = auth_client.post("/api/queue/tokens", {}, format="json")
    assert again.status_code == 200
    assert (again.json()["token"], again.json()["position"]) == (body["token"], 2)


def test_status_of_the_current_token(auth_client, user, other_user):
    token = auth_client.post("/api/queue/tokens").json()["token"]
    services.queue_token_issue(user_id=other_user.pk)
    response = auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token)
    assert response.status_code == 200
    assert response.json()["position"] == 1
    assert response.json()["status"] == "waiting"

    services.queue_promote()
    active = auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token).json()
    assert set(active) == TICKET_FIELDS
    assert (active["status"], active["position"], active["estimated_wait_seconds"]) == (
        "active",
        None,
        0,
    )


def test_status_needs_a_token(auth_client):
    response = auth_client.get("/api/queue/tokens/current")
    assert response.status_code == 403
    assert response.json()["code"] == "queue_token_required"


@pytest.mark.parametrize("forged", ["x" * 32, "not even close", "y" * 500])
def test_forged_token_is_refused(auth_client, forged):
    auth_client.post("/api/queue/tokens")
    response = auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=forged)
    assert response.status_code == 403
    assert response.json()["code"] == "queue_token_invalid"


def test_another_users_token_is_refused(auth_client, other_user):
    theirs = services.queue_token_issue(user_id=other_user.pk).token
    response = auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=theirs)
    assert response.status_code == 403
    assert response.json()["code"] == "queue_token_invalid"
    leave = auth_client.delete("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=theirs)
    assert leave.status_code == 403
    # Still there for its owner.
    assert services.queue_token_issue(user_id=other_user.pk).token == theirs


def test_expired_token_is_refused(auth_client, queue_settings):
    queue_settings(session_seconds=1)
    token = auth_client.post("/api/queue/tokens").json()["token"]
    services.queue_promote()
    assert auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token).status_code == 200
    time.sleep(1.1)
    response = auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token)
    assert response.status_code == 403
    assert response.json()["code"] == "queue_token_invalid"


def test_leave(auth_client, other_user):
    token = auth_client.post("/api/queue/tokens").json()["token"]
    behind = services.queue_token_issue(user_id=other_user.pk)
    response = auth_client.delete("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token)
    assert response.status_code == 204
    assert response.content == b""
    gone = auth_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN=token)
    assert gone.json()["code"] == "queue_token_invalid"
    assert services.queue_token_issue(user_id=other_user.pk).position == 1
    assert behind.position == 2


def test_anonymous_is_refused(api_client):
    assert api_client.post("/api/queue/tokens").status_code == 401
    assert api_client.get("/api/queue/tokens/current", HTTP_QUEUE_TOKEN="x").status_code == 401


def test_api_token_authentication(api_client, user):
    key = api_token_create(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.post("/api/queue/tokens").status_code == 201


@pytest.mark.parametrize("body", [{"position": 1}, [1, 2]])
def test_issue_refuses_any_input(auth_client, body):
    response = auth_client.post("/api/queue/tokens", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Seoul"])
def test_ticket_body_is_what_the_documented_serializer_renders(settings, time_zone):
    from dataclasses import asdict
    from datetime import UTC, datetime

    from queueing.api.serializers import QueueTicketOutput
    from queueing.api.views import ticket_body
    from queueing.selectors import QueueTicket

    settings.TIME_ZONE = time_zone
    expires_at = datetime(2031, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    for ticket in (
        QueueTicket("t" * 32, "waiting", 12, 30, 7, expires_at, created=True),
        QueueTicket("t" * 32, "active", None, 0, 60, expires_at.replace(microsecond=0)),
    ):
        assert ticket_body(ticket) == QueueTicketOutput(asdict(ticket)).data


@pytest.mark.parametrize("body", [None, {}])
def test_issue_accepts_no_body_or_an_empty_object(auth_client, body):
    response = auth_client.post("/api/queue/tokens", body, format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("body", [[], 0, "", False])
def test_issue_refuses_a_body_that_is_not_an_object(auth_client, body):
    """The schema's request body is an object; another JSON value is not "empty" either."""
    response = auth_client.post("/api/queue/tokens", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_issue_refuses_unknown_fields(auth_client):
    response = auth_client.post("/api/queue/tokens", {"position": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["fields"] == {"position": ["Unknown field."]}
