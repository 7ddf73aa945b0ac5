"""Token authentication for API clients."""

import pytest

pytestmark = pytest.mark.django_db


def test_each_sign_in_hands_out_a_token_of_its_own(api_client, user):
    first = api_client.post(
        "/api/auth/token", {"username": "alice", "password": "pw-alice-123"}, format="json"
    )
    assert first.status_code == 200
    token = first.json()["token"]
    assert len(token) == 64
    again = api_client.post(
        "/api/auth/token", {"username": "alice", "password": "pw-alice-123"}, format="json"
    )
    assert again.json()["token"] != token
    for key in (token, again.json()["token"]):  # each device signs out on its own
        api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert api_client.post("/api/queue/tokens").status_code in (200, 201)


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "wrong"},
        {"username": "nobody", "password": "pw-alice-123"},
    ],
)
def test_wrong_credentials(api_client, user, body):
    response = api_client.post("/api/auth/token", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"username": "alice"}, "json"),
        ({"username": ["alice"], "password": {"x": 1}}, "json"),
        ({"username": "alice", "password": "pw-alice-123", "admin": True}, "json"),
        ([1, 2, 3], "json"),
    ],
)
def test_malformed_token_requests(api_client, user, body, content_type):
    response = api_client.post("/api/auth/token", body, format=content_type)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["detail"]


def test_unparseable_json(api_client):
    response = api_client.post("/api/auth/token", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


def test_what_django_refuses_before_any_view_is_json_too(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    body = '{"username": "alice", "password": "pw-alice-123"}'
    response = api_client.post("/api/auth/token", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "request_too_large"
    response = api_client.get("/api/health", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    # Pages keep Django's own answer.
    assert api_client.get("/", HTTP_HOST="evil.example")["Content-Type"].startswith("text/html")


def test_unsupported_media_type(api_client):
    response = api_client.post("/api/auth/token", "a=b", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_bad_token_header(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api_client.get("/api/concerts/1/available-dates")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_api_tokens_are_issued_in_bulk(django_user_model):
    from accounts.services import api_tokens_issue, users_seed

    assert users_seed(count=5, password="pw") == 5
    assert users_seed(count=6, password="pw") == 1  # only the missing one
    first = api_tokens_issue(usernames=["user1", "user2", "nobody"])
    assert set(first) == {"user1", "user2"}
    again = api_tokens_issue(usernames=["user1", "user2", "user3"])
    assert again["user1"] != first["user1"] and len(again) == 3
    for key in (first["user1"], again["user1"]):  # the earlier key still works
        assert _authed(key).get("/api/users/me/balance").status_code == 200
    assert django_user_model.objects.get(username="user6").check_password("pw")


def _authed(token_key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_key}")
    return client


def test_cached_token_is_refused_once_revoked_or_user_deactivated(user, django_assert_num_queries):
    from knox.models import AuthToken

    token, key = AuthToken.objects.create(user)
    client = _authed(key)
    assert client.post("/api/queue/tokens").status_code == 201
    with django_assert_num_queries(0):  # the token is cached (queue settings are too)
        assert client.post("/api/queue/tokens").status_code == 200

    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.post("/api/queue/tokens").status_code == 401

    user.is_active = True
    user.save(update_fields=["is_active"])
    response = client.post("/api/queue/tokens")  # the deactivation revoked the token for good
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert not AuthToken.objects.filter(pk=token.pk).exists()


def test_the_caller_cache_can_be_turned_off(user, settings, django_assert_num_queries):
    from knox.models import AuthToken

    from queueing.selectors import site_room

    settings.CALLER_CACHE_SECONDS = 0
    token, key = AuthToken.objects.create(user)
    client = _authed(key)
    site_room()  # the queue settings row, read once per process every few seconds
    for status in (201, 200):
        with django_assert_num_queries(1):  # the token with its user, every time
            assert client.post("/api/queue/tokens").status_code == status
    token.delete()
    assert client.post("/api/queue/tokens").status_code == 401
