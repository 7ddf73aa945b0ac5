"""Top-ups through the payment gateway: credited only on the gateway's confirmation, once per
payment; signed callbacks; the daily limit; the sandbox's guard in production settings."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from payments import services
from payments.models import LedgerEntry, LedgerKind, TopUp, TopUpStatus, Wallet
from payments.selectors import wallet_balance
from payments.tests.conftest import callback_body, fund, ledger_sum, signed, snapshot

pytestmark = pytest.mark.django_db

CHARGE = "/api/users/me/balance/charge"
CALLBACK = "/api/payments/callback/{}"
ROOT = Path(__file__).resolve().parents[2]


def _callback(api_client, body: bytes, signature: str | None, gateway: str = "deferred"):
    headers = {} if signature is None else {"HTTP_GATEWAY_SIGNATURE": signature}
    return api_client.post(
        CALLBACK.format(gateway), body, content_type="application/json", **headers
    )


def test_a_sandbox_top_up_is_confirmed_at_once_and_named_in_the_ledger(auth_client, user):
    response = auth_client.post(CHARGE, {"amount": 50_000}, format="json")
    assert response.status_code == 200
    assert response.json() == {"balance": 50_000}
    top_up = TopUp.objects.get()
    assert (top_up.user_id, top_up.amount, top_up.gateway, top_up.status) == (
        user.pk,
        50_000,
        "sandbox",
        TopUpStatus.CONFIRMED,
    )
    assert top_up.gateway_payment_id.startswith("sandbox-") and top_up.confirmed_at
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.top_up_id) == (LedgerKind.CHARGE, 50_000, top_up.pk)


def test_a_deferred_top_up_credits_nothing_until_its_callback(
    deferred_gateway, auth_client, api_client, user
):
    response = auth_client.post(CHARGE, {"amount": 30_000}, format="json")
    assert response.status_code == 202
    body = response.json()
    top_up = TopUp.objects.get()
    assert body == {
        "top_up_id": top_up.pk,
        "status": "pending",
        "amount": 30_000,
        "gateway": "deferred",
        "payment_id": top_up.gateway_payment_id,
        "redirect_url": None,
    }
    assert wallet_balance(user_id=user.pk) == 0 and not LedgerEntry.objects.exists()

    paid = callback_body(body["payment_id"], 30_000)
    confirmed = _callback(api_client, paid, signed(paid))
    assert confirmed.status_code == 200
    assert confirmed.json() == {"top_up_id": top_up.pk, "status": "confirmed"}
    assert wallet_balance(user_id=user.pk) == ledger_sum(user) == 30_000
    assert LedgerEntry.objects.get().top_up_id == top_up.pk

    # The gateway sends it again (it does, until it sees a 2xx): the same answer, no credit.
    again = _callback(api_client, paid, signed(paid))
    assert (again.status_code, again.json()) == (200, confirmed.json())
    assert wallet_balance(user_id=user.pk) == 30_000 and LedgerEntry.objects.count() == 1


@pytest.mark.parametrize(
    "signature",
    [None, "", "00" * 32, "not-hex", "é"],
    ids=["missing", "empty", "zeros", "garbage", "non-ascii"],
)
def test_an_unsigned_or_badly_signed_callback_is_refused_and_changes_nothing(
    deferred_gateway, auth_client, api_client, signature
):
    payment_id = auth_client.post(CHARGE, {"amount": 30_000}, format="json").json()["payment_id"]
    before = snapshot()
    response = _callback(api_client, callback_body(payment_id, 30_000), signature)
    assert response.status_code == 403
    assert response.json()["code"] == "callback_signature_invalid"
    assert snapshot() == before


def test_a_callback_signed_with_another_key_or_for_another_body_is_refused(
    deferred_gateway, auth_client, api_client
):
    payment_id = auth_client.post(CHARGE, {"amount": 30_000}, format="json").json()["payment_id"]
    paid = callback_body(payment_id, 30_000)
    before = snapshot()
    wrong_key = _callback(api_client, paid, signed(paid, "another-secret"))
    other_body = _callback(api_client, paid, signed(callback_body(payment_id, 31_000)))
    assert [wrong_key.status_code, other_body.status_code] == [403, 403]
    assert snapshot() == before


def test_without_a_secret_no_callback_is_accepted(deferred_gateway, settings, auth_client):
    """An empty key's HMAC is anyone's to compute: with no secret set, nothing passes."""
    payment_id = auth_client.post(CHARGE, {"amount": 30_000}, format="json").json()["payment_id"]
    settings.PAYMENT_GATEWAY_SECRET = ""
    paid = callback_body(payment_id, 30_000)
    response = _callback(auth_client, paid, signed(paid, ""))
    assert response.status_code == 403
    assert TopUp.objects.get().status == TopUpStatus.PENDING


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "callback_invalid"),
        (b'["a list"]', 400, "callback_invalid"),
        (b"[" * 50_000, 400, "callback_invalid"),  # nested too deep for Python's json
        (b'{"payment_id": "x", "status": "maybe", "amount": 1}', 400, "callback_invalid"),
        (b'{"payment_id": "x", "status": "paid", "amount": "1"}', 400, "callback_invalid"),
        (b'{"payment_id": "nobody", "status": "paid", "amount": 1}', 404, "top_up_not_found"),
    ],
)
def test_odd_signed_callbacks_are_refused_and_change_nothing(
    deferred_gateway, auth_client, api_client, body, status, code
):
    auth_client.post(CHARGE, {"amount": 30_000}, format="json")
    before = snapshot()
    response = _callback(api_client, body, signed(body))
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert snapshot() == before


def test_a_callback_for_an_unknown_gateway_is_not_found(deferred_gateway, api_client):
    body = callback_body("x", 1)
    response = _callback(api_client, body, signed(body), gateway="nosuch")
    assert (response.status_code, response.json()["code"]) == (404, "payment_gateway_not_found")


def test_a_callback_whose_amount_differs_is_refused(deferred_gateway, auth_client, api_client):
    payment_id = auth_client.post(CHARGE, {"amount": 30_000}, format="json").json()["payment_id"]
    before = snapshot()
    more = callback_body(payment_id, 3_000_000)
    response = _callback(api_client, more, signed(more))
    assert (response.status_code, response.json()["code"]) == (409, "top_up_mismatch")
    assert snapshot() == before


def test_a_failed_payment_credits_nothing_and_cannot_be_confirmed_later(
    deferred_gateway, auth_client, api_client, user
):
    payment_id = auth_client.post(CHARGE, {"amount": 30_000}, format="json").json()["payment_id"]
    failed = callback_body(payment_id, 30_000, status="failed")
    first = _callback(api_client, failed, signed(failed))
    assert first.json()["status"] == "failed"
    assert _callback(api_client, failed, signed(failed)).json() == first.json()
    before = snapshot()
    paid = callback_body(payment_id, 30_000)
    response = _callback(api_client, paid, signed(paid))
    assert (response.status_code, response.json()["code"]) == (409, "top_up_mismatch")
    assert snapshot() == before
    assert wallet_balance(user_id=user.pk) == 0


def test_a_confirmed_top_up_cannot_fail_afterwards(deferred_gateway, auth_client, api_client):
    payment_id = auth_client.post(CHARGE, {"amount": 30_000}, format="json").json()["payment_id"]
    paid = callback_body(payment_id, 30_000)
    _callback(api_client, paid, signed(paid))
    before = snapshot()
    failed = callback_body(payment_id, 30_000, status="failed")
    response = _callback(api_client, failed, signed(failed))
    assert response.status_code == 409
    assert snapshot() == before


def test_a_pending_top_up_replays_its_202_with_its_key(deferred_gateway, auth_client):
    auth_client.credentials(HTTP_IDEMPOTENCY_KEY="top-up-later")
    first = auth_client.post(CHARGE, {"amount": 30_000}, format="json")
    again = auth_client.post(CHARGE, {"amount": 30_000}, format="json")
    assert (again.status_code, again.content) == (202, first.content)
    assert again["Idempotent-Replayed"] == "true"
    assert TopUp.objects.count() == 1


# --- The daily limit --------------------------------------------------------------------------


def test_over_the_daily_limit_is_refused_with_what_is_left(settings, auth_client, user):
    settings.TOPUP_DAILY_LIMIT = 1000
    assert auth_client.post(CHARGE, {"amount": 600}, format="json").status_code == 200
    before = snapshot()
    refused = auth_client.post(CHARGE, {"amount": 500}, format="json")
    assert refused.status_code == 429
    assert refused.json()["code"] == "top_up_limit_reached"
    assert refused.json()["remaining"] == 400
    tomorrow = (timezone.now() + timedelta(days=1)).replace(hour=0, minute=0, second=0)
    assert 0 < int(refused["Retry-After"]) <= (tomorrow - timezone.now()).total_seconds() + 2
    assert snapshot() == before
    assert auth_client.post(CHARGE, {"amount": 400}, format="json").json() == {"balance": 1000}
    assert auth_client.post(CHARGE, {"amount": 1}, format="json").json()["remaining"] == 0


def test_pending_top_ups_count_failed_ones_do_not(
    deferred_gateway, settings, auth_client, api_client
):
    settings.TOPUP_DAILY_LIMIT = 1000
    payment_id = auth_client.post(CHARGE, {"amount": 700}, format="json").json()["payment_id"]
    assert auth_client.post(CHARGE, {"amount": 700}, format="json").status_code == 429
    failed = callback_body(payment_id, 700, status="failed")
    _callback(api_client, failed, signed(failed))
    assert auth_client.post(CHARGE, {"amount": 700}, format="json").status_code == 202


def test_the_limit_is_per_user_and_per_utc_day(settings, user, other_user):
    settings.TOPUP_DAILY_LIMIT = 1000
    fund(user, 1000)
    fund(other_user, 1000)
    TopUp.objects.filter(user=user).update(created_at=timezone.now() - timedelta(days=1))
    assert fund(user, 1000) == 2000


def test_a_refused_top_up_is_not_remembered_by_its_key(settings, auth_client):
    """A refusal changes nothing, its key included: once there is room, the key works."""
    settings.TOPUP_DAILY_LIMIT = 1000
    auth_client.credentials(HTTP_IDEMPOTENCY_KEY="big")
    assert auth_client.post(CHARGE, {"amount": 1500}, format="json").status_code == 429
    settings.TOPUP_DAILY_LIMIT = 2000
    assert auth_client.post(CHARGE, {"amount": 1500}, format="json").status_code == 200


# --- Pages and the one road ---------------------------------------------------------------------


def test_the_page_top_up_goes_through_the_gateway(client_in, user):
    response = client_in.post(reverse("wallet-top-up"), {"amount": "2500"}, follow=True)
    assert "Added 2,500 to your balance; it is now 2,500." in response.content.decode()
    assert TopUp.objects.get().status == TopUpStatus.CONFIRMED


def test_the_page_says_a_deferred_top_up_is_waiting(deferred_gateway, client_in, user):
    response = client_in.post(reverse("wallet-top-up"), {"amount": "2500"}, follow=True)
    assert "waiting for the payment provider" in response.content.decode()
    assert wallet_balance(user_id=user.pk) == 0


def test_the_page_says_when_the_daily_limit_is_reached(settings, client_in, user):
    settings.TOPUP_DAILY_LIMIT = 1000
    response = client_in.post(reverse("wallet-top-up"), {"amount": "2500"}, follow=True)
    assert "1,000 is left today" in response.content.decode()
    assert not TopUp.objects.exists()


def test_a_refund_still_pays_back_what_was_paid(user, held):
    fund(user, 100_000)
    services.payment_create(user=user, reservation_id=held["reservation_id"])
    assert services.payment_refund(reservation_id=held["reservation_id"]) == 100_000
    assert Wallet.objects.get(user=user).balance == ledger_sum(user) == 100_000
    assert TopUp.objects.count() == 1  # the refund is no top-up


def test_an_unknown_gateway_fails_the_start_up_checks(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.PAYMENT_GATEWAY = "nosuch"
    with pytest.raises(SystemCheckError, match="payments.E001"):
        call_command("check")
