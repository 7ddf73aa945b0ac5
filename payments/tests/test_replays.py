"""A payment retried with its Idempotency-Key gets its first answer even after paying released
the queue slot: the gate lets a retry of a stored answer through, and only that."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from booking import services as booking_services
from booking.tests.factories import SeatFactory, UserFactory
from booking.tests.parallel import Failed, run_parallel
from payments import services
from payments.models import LedgerEntry, LedgerKind, Payment
from payments.selectors import wallet_balance
from payments.tests.conftest import fund, ledger_sum, queue_token_active, snapshot
from queueing.errors import QueueTokenInvalid
from queueing.testing import admit, page_client

PAY = "/api/reservation/payments"


def _client(user, *, token: str | None, key: str | None) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    headers = {}
    if token is not None:
        headers["HTTP_QUEUE_TOKEN"] = token
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    client.credentials(**headers)
    return client


def _paid_and_released(user, *, key: str = "pay-once"):
    """`user` paid their only hold with `key` over the API, and the payment gave the slot back.
    Returns (the hold, the queue token, the first answer)."""
    fund(user, 1_000_000)
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=80_000).id)
    token = admit(user)
    first = _client(user, token=token, key=key).post(
        PAY, {"reservation_id": hold["reservation_id"]}, format="json"
    )
    assert first.status_code == 201
    assert not queue_token_active(user, token)
    return hold, token, first


@pytest.mark.django_db(transaction=True)
def test_50_parallel_retries_after_the_slot_was_released_replay_the_first_answer():
    user = UserFactory()
    hold, token, first = _paid_and_released(user)
    # Half still send the spent queue token, half none at all: a retry needs neither.
    clients = [_client(user, token=token if n % 2 else None, key="pay-once") for n in range(50)]

    def retry(client: APIClient):
        response = client.post(PAY, {"reservation_id": hold["reservation_id"]}, format="json")
        return response.status_code, response.content, response.get("Idempotent-Replayed")

    results = run_parallel([lambda c=c: retry(c) for c in clients])

    assert not [r for r in results if isinstance(r, Failed)]
    assert set(results) == {(201, first.content, "true")}
    assert Payment.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerKind.PAYMENT).count() == 1
    assert wallet_balance(user_id=user.pk) == ledger_sum(user) == 920_000


@pytest.mark.django_db(transaction=True)
def test_after_the_slot_was_released_anything_but_a_stored_answer_meets_the_gate():
    user = UserFactory()
    hold, token, _ = _paid_and_released(user)
    other_hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory().id)
    before = snapshot()
    cases = [
        # A key with no stored answer, and no key at all.
        (_client(user, token=token, key="never-used"), hold["reservation_id"]),
        (_client(user, token=token, key=None), hold["reservation_id"]),
        # The stored key with another body: not a retry of that answer.
        (_client(user, token=token, key="pay-once"), other_hold["reservation_id"]),
        # Another user's retry with the same key and body is not theirs to replay.
        (_client(UserFactory(), token=token, key="pay-once"), hold["reservation_id"]),
    ]
    for client, reservation_id in cases:
        response = client.post(PAY, {"reservation_id": reservation_id}, format="json")
        assert (response.status_code, response.json()["code"]) == (403, "queue_token_invalid")
    without_token = _client(user, token=None, key="never-used").post(
        PAY, {"reservation_id": hold["reservation_id"]}, format="json"
    )
    assert (without_token.status_code, without_token.json()["code"]) == (
        403,
        "queue_token_required",
    )
    assert snapshot() == before


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_still_refused_while_admitted(user):
    """Paying one of two holds keeps the slot: the gate passes, and the key says 422."""
    fund(user, 1_000_000)
    first, second = (
        booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=80_000).id)
        for _ in range(2)
    )
    client = _client(user, token=admit(user), key="pay-once")
    assert (
        client.post(PAY, {"reservation_id": first["reservation_id"]}, format="json").status_code
        == 201
    )
    before = snapshot()
    response = client.post(PAY, {"reservation_id": second["reservation_id"]}, format="json")
    assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_reused")
    assert snapshot() == before


@pytest.mark.django_db
def test_a_retry_whose_answer_vanished_meanwhile_is_the_gates_refusal(user, held):
    """The gate let it through to be replayed, but the key was purged since: it may not pay."""
    fund(user, 1_000_000)
    before = snapshot()
    with pytest.raises(QueueTokenInvalid):
        services.payment_create(
            user=user,
            reservation_id=held["reservation_id"],
            idempotency_key="purged",
            replay_only=True,
        )
    assert snapshot() == before


@pytest.mark.django_db(transaction=True)
def test_a_resubmitted_pay_form_after_the_slot_was_released_shows_the_ticket():
    user = UserFactory()
    fund(user, 1_000_000)
    client = page_client(user)
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=80_000).id)
    pay_url = reverse("booking-pay", args=[hold["reservation_id"]])
    ticket_url = reverse("ticket-detail", args=[hold["reservation_id"]])

    assert client.post(pay_url, {"idempotency_key": "page-p1"})["Location"] == ticket_url
    checkout_url = reverse("booking-checkout", args=[hold["reservation_id"]])
    assert client.get(checkout_url)["Location"].startswith(reverse("queue-waiting-room"))

    again = client.post(pay_url, {"idempotency_key": "page-p1"}, follow=True)
    assert again.redirect_chain[-1][0] == ticket_url
    assert "Payment complete" in again.content.decode()
    fresh = client.post(pay_url, {"idempotency_key": "page-p2"})
    assert fresh["Location"].startswith(reverse("queue-waiting-room"))
    assert Payment.objects.count() == 1
    assert wallet_balance(user_id=user.pk) == 920_000


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "key"),
    [("[" * 50_000, "pay-once"), ('{"reservation_id": 1}', "a\x00b"), ("{", "pay-once")],
    ids=["nested-too-deep", "nul-in-key", "not-json"],
)
def test_a_body_or_key_the_view_would_refuse_is_no_replay(user, body, key):
    """The replay check reads the body with the view's parser and the key with its check: what
    they refuse meets the gate."""
    from accounts.services import api_token_create

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)}")
    response = client.post(PAY, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 403 and response.json()["code"] == "queue_token_required"
