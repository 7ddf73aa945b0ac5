"""The balance and top-ups: amounts, the ledger, and Idempotency-Key replays."""

import pytest
from django.conf import settings

from payments.models import IdempotencyKey, LedgerEntry, LedgerKind, Wallet
from payments.tests.conftest import fund, ledger_sum, snapshot

pytestmark = pytest.mark.django_db

BALANCE = "/api/users/me/balance"
CHARGE = "/api/users/me/balance/charge"


def test_balance_starts_at_zero_without_creating_a_wallet(auth_client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = auth_client.get(BALANCE)
    assert response.status_code == 200
    assert response.json() == {"balance": 0}
    assert not Wallet.objects.exists()


def test_balance_needs_a_signed_in_user(api_client):
    response = api_client.get(BALANCE)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_charge_adds_to_the_balance_through_the_ledger(auth_client, user):
    first = auth_client.post(CHARGE, {"amount": 50_000}, format="json")
    assert first.status_code == 200, first.content
    assert first.json() == {"balance": 50_000}
    second = auth_client.post(CHARGE, {"amount": 25_000}, format="json")
    assert second.json() == {"balance": 75_000}
    assert auth_client.get(BALANCE).json() == {"balance": 75_000}

    entries = list(
        LedgerEntry.objects.order_by("id").values_list("kind", "amount", "balance_after")
    )
    assert entries == [
        (LedgerKind.CHARGE, 50_000, 50_000),
        (LedgerKind.CHARGE, 25_000, 75_000),
    ]
    assert ledger_sum(user) == Wallet.objects.get(user=user).balance


@pytest.mark.parametrize(
    "amount",
    [
        0,
        -1,
        -(10**30),
        settings.CHARGE_MAX_AMOUNT,
        settings.CHARGE_MAX_AMOUNT + 1,
        10**30,
        2**63,
        1.5,
        100.0,
        "100",
        "",
        True,
        False,
        None,
        [100],
        {"value": 100},
    ],
)
def test_charge_refuses_anything_but_a_whole_number_in_range(auth_client, user, amount):
    fund(user, 10)
    before = snapshot()
    response = auth_client.post(CHARGE, {"amount": amount}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_amount"
    assert snapshot() == before


def test_charge_without_an_amount_is_invalid_amount(auth_client):
    response = auth_client.post(CHARGE, {}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_amount"


def test_charge_refuses_unknown_fields(auth_client):
    response = auth_client.post(CHARGE, {"amount": 5, "currency": "EUR"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not Wallet.objects.exists()


def test_largest_allowed_amount(auth_client, settings):
    settings.CHARGE_MAX_AMOUNT = 1000
    assert auth_client.post(CHARGE, {"amount": 999}, format="json").json() == {"balance": 999}
    assert auth_client.post(CHARGE, {"amount": 1000}, format="json").status_code == 400


def test_same_key_same_body_replays_the_first_answer(auth_client, user):
    first = auth_client.post(CHARGE, {"amount": 700}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    fund(user, 5)  # the balance moves on in between; the replay still says what it said first
    again = auth_client.post(CHARGE, {"amount": 700}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 200
    assert first.content == again.content == b'{"balance":700}'
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == "true"
    assert Wallet.objects.get(user=user).balance == 705
    assert LedgerEntry.objects.count() == 2


def test_same_key_different_body_is_422(auth_client, user):
    auth_client.post(CHARGE, {"amount": 700}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    before = snapshot()
    response = auth_client.post(CHARGE, {"amount": 701}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert snapshot() == before


def test_keys_belong_to_one_user(auth_client, user, other_user):
    from rest_framework.test import APIClient

    other = APIClient()
    other.force_authenticate(other_user)
    auth_client.post(CHARGE, {"amount": 10}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    response = other.post(CHARGE, {"amount": 20}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert response.json() == {"balance": 20}
    assert IdempotencyKey.objects.count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "line\nbreak"])
def test_malformed_key_is_400(auth_client, key):
    response = auth_client.post(CHARGE, {"amount": 10}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not Wallet.objects.exists()
