"""Hostile input to every hold, reservation and money endpoint: always a 4xx, never a change."""

import json

import pytest
from rest_framework.test import APIClient

from booking import services as booking_services
from booking.models import SeatStatus
from booking.tests.factories import SeatFactory
from payments import services
from payments.tests.conftest import fund, snapshot
from queueing.testing import admit

pytestmark = pytest.mark.django_db

HOLD = "/api/reservation/concerts"
PAY = "/api/reservation/payments"
CHARGE = "/api/users/me/balance/charge"

BAD_IDS = [
    None,
    "1",
    "",
    1.0,
    1.5,
    True,
    False,
    0,
    -1,
    -(2**63),
    2**63,
    10**30,
    [1],
    {"id": 1},
]
BAD_AMOUNTS = [None, "100", 1.0, 0.5, True, 0, -1, -(10**12), 10**7, 2**63, 10**100, [5], {}]
RAW_BODIES = [
    b"",
    b"{",
    b"null",
    b"[]",
    b'"text"',
    b"42",
    b"[" * 50_000,
    b'{"x": NaN}',
    b"\xff\xfe",
    b'{"seat_id": 1, "seat_id": "2"}',
]


@pytest.fixture
def world(user, other_user):
    """Alice with money and a hold, Bob with money, a hold and a paid seat; spare seats."""
    fund(user, 500_000)
    fund(other_user, 500_000)
    mine = booking_services.reservation_hold(user=user, seat_id=SeatFactory().id)
    theirs = booking_services.reservation_hold(user=other_user, seat_id=SeatFactory().id)
    their_paid = booking_services.reservation_hold(user=other_user, seat_id=SeatFactory().id)
    services.payment_create(user=other_user, reservation_id=their_paid["reservation_id"])
    sold = SeatFactory(status=SeatStatus.SOLD)
    return {"mine": mine, "theirs": theirs, "their_paid": their_paid, "sold": sold}


def requests_to_try(world) -> list[tuple[str, str, object, dict]]:
    """(method, path, JSON body or raw bytes, headers): none of these may change anything."""
    theirs = world["theirs"]
    tries: list[tuple[str, str, object, dict]] = []
    for value in BAD_IDS:
        tries += [
            ("post", HOLD, {"seat_id": value}, {}),
            ("post", PAY, {"reservation_id": value}, {}),
        ]
    for value in BAD_AMOUNTS:
        tries.append(("post", CHARGE, {"amount": value}, {}))
    for path in (HOLD, PAY, CHARGE):
        tries += [("post", path, {}, {}), ("post", path, {"user_id": 1}, {})]
        tries += [("post", path, raw, {}) for raw in RAW_BODIES]
    tries += [
        # Other users' rows, and rows that are not in a state to be acted on.
        ("post", HOLD, {"seat_id": theirs["seat_id"]}, {}),
        ("post", HOLD, {"seat_id": world["sold"].id}, {}),
        ("post", HOLD, {"seat_id": world["sold"].id + 10_000}, {}),
        ("post", PAY, {"reservation_id": theirs["reservation_id"]}, {}),
        ("post", PAY, {"reservation_id": world["their_paid"]["reservation_id"]}, {}),
        ("post", PAY, {"reservation_id": theirs["reservation_id"] + 10_000}, {}),
        ("delete", f"/api/reservations/{theirs['reservation_id']}", None, {}),
        ("delete", f"/api/reservations/{world['their_paid']['reservation_id']}", None, {}),
        ("delete", "/api/reservations/0", None, {}),
        ("delete", "/api/reservations/-1", None, {}),
        ("delete", "/api/reservations/abc", None, {}),
        ("delete", "/api/reservations/" + "9" * 30, None, {}),
        ("delete", "/api/reservations/" + "9" * 18, None, {}),
        # Extra fields that try to pick the user, the price or the amount.
        ("post", HOLD, {"seat_id": world["sold"].id, "price": 0}, {}),
        ("post", PAY, {"reservation_id": world["mine"]["reservation_id"], "amount": 0}, {}),
        ("post", PAY, {"reservation_id": world["mine"]["reservation_id"], "user": 2}, {}),
        ("post", CHARGE, {"amount": 5, "user_id": 2}, {}),
        # Broken idempotency keys.
        ("post", CHARGE, {"amount": 5}, {"HTTP_IDEMPOTENCY_KEY": "k" * 256}),
        ("post", CHARGE, {"amount": 5}, {"HTTP_IDEMPOTENCY_KEY": ""}),
        ("post", CHARGE, {"amount": 5}, {"HTTP_IDEMPOTENCY_KEY": "tab\there"}),
        ("post", PAY, {"reservation_id": 1}, {"HTTP_IDEMPOTENCY_KEY": "\u00e9t\u00e9"}),
        # Wrong methods and media types.
        ("get", HOLD, None, {}),
        ("put", PAY, {"reservation_id": world["mine"]["reservation_id"]}, {}),
        ("delete", "/api/reservations", None, {}),
        ("post", "/api/users/me/balance", {"balance": 10**9}, {}),
        ("patch", CHARGE, {"amount": 5}, {}),
    ]
    return tries


def send(client: APIClient, method: str, path: str, body, headers: dict):
    if isinstance(body, bytes):
        return client.generic(
            method.upper(), path, body, content_type="application/json", **headers
        )
    if body is None:
        return getattr(client, method)(path, **headers)
    return getattr(client, method)(path, body, format="json", **headers)


def test_hostile_requests_get_a_4xx_and_change_nothing(user, world):
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_QUEUE_TOKEN=admit(user))
    tries = requests_to_try(world)
    before = snapshot()

    answers = []
    for method, path, body, headers in tries:
        response = send(client, method, path, body, headers)
        answers.append((method, path, body, response.status_code))
        assert 400 <= response.status_code < 500, (method, path, body, response.content)
        if path.startswith("/api/"):
            payload = json.loads(response.content)
            assert set(payload) >= {"code", "detail"}, (path, payload)

    assert snapshot() == before
    assert len(answers) > 100
    # A text/plain body is refused before it is read.
    response = client.generic("POST", CHARGE, b"amount=5", content_type="text/plain")
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")
    assert snapshot() == before


def test_anonymous_callers_change_nothing(api_client, world):
    before = snapshot()
    for method, path, body, headers in requests_to_try(world)[:40]:
        response = send(api_client, method, path, body, headers)
        assert response.status_code in (400, 401, 403, 404, 405, 415), (path, response.content)
    for path in (HOLD, PAY, CHARGE):
        response = api_client.post(path, {"seat_id": 1, "amount": 1}, format="json")
        assert response.status_code in (401, 403)
    assert api_client.get("/api/reservations").status_code == 401
    assert (
        api_client.delete(f"/api/reservations/{world['mine']['reservation_id']}").status_code == 401
    )
    assert snapshot() == before
