"""A user deactivated behind the signals' back (QuerySet.update) may still be read from the
caller cache for a while, but no hold, payment or top-up of theirs goes through: each write
locks the user's row and finds it inactive (accounts.services.user_lock_active)."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.services import api_token_create
from booking.tests.factories import SeatFactory
from payments.tests.conftest import fund, snapshot
from queueing.testing import admit

pytestmark = pytest.mark.django_db


@pytest.fixture
def stale_client(user, held) -> APIClient:
    """A token client whose user is deactivated by update() after the cache kept the row."""
    fund(user, 200_000)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)}", HTTP_QUEUE_TOKEN=admit(user)
    )
    assert client.get("/api/users/me/balance").status_code == 200  # the user is cached
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert client.get("/api/users/me/balance").status_code == 200  # reads still see the row
    return client


def _writes(held):
    return {
        "hold": ("/api/reservation/concerts", {"seat_id": SeatFactory(price=10_000).id}),
        "payment": ("/api/reservation/payments", {"reservation_id": held["reservation_id"]}),
        "top-up": ("/api/users/me/balance/charge", {"amount": 5_000}),
    }


@pytest.mark.parametrize("write", ["hold", "payment", "top-up"])
def test_a_write_of_a_user_deactivated_by_update_is_refused(stale_client, held, write):
    path, body = _writes(held)[write]
    before = snapshot()
    response = stale_client.post(path, body, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "account_inactive")
    assert snapshot() == before


def test_control_without_the_row_lock_the_cached_user_tops_up(stale_client, monkeypatch):
    """What the lock prevents: with it skipped, the cached row lets the top-up through."""
    from payments import services

    monkeypatch.setattr(services, "user_lock_active", lambda *, user_id: None)
    response = stale_client.post("/api/users/me/balance/charge", {"amount": 5_000}, format="json")
    assert response.status_code == 200
