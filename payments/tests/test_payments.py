"""Paying for a hold: the happy path, every error code, replays, and the outbox."""

import socket
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from booking import services as booking_services
from booking.models import Reservation, ReservationStatus, Seat, SeatStatus
from booking.tests.factories import SeatFactory
from payments import services, tasks
from payments.errors import InsufficientBalance
from payments.models import (
    IdempotencyKey,
    LedgerEntry,
    LedgerKind,
    OutboxEvent,
    Payment,
    Wallet,
)
from payments.tests.conftest import (
    back_offs_over,
    fund,
    ledger_sum,
    mail_server_down,
    queue_token_active,
    snapshot,
)
from queueing.testing import admit

pytestmark = pytest.mark.django_db

PAY = "/api/reservation/payments"


def run_out(reservation_id: int) -> None:
    past = timezone.now() - timedelta(seconds=1)
    Reservation.objects.filter(pk=reservation_id).update(expires_at=past)
    Seat.objects.filter(reservations__pk=reservation_id).update(held_until=past)


def test_payment_sells_the_seat_and_debits_the_balance(admitted_client, user, held):
    fund(user, 100_000)
    response = admitted_client.post(PAY, {"reservation_id": held["reservation_id"]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    payment = Payment.objects.get()
    assert body == {
        "payment_id": payment.id,
        "reservation_id": held["reservation_id"],
        "amount": 80_000,
        "balance": 20_000,
        "status": "paid",
        "paid_at": body["paid_at"],
    }
    assert body["paid_at"].endswith("Z")

    reservation = Reservation.objects.get()
    assert reservation.status == ReservationStatus.PAID
    assert reservation.paid_at == payment.paid_at
    seat = Seat.objects.get(pk=held["seat_id"])
    assert (seat.status, seat.held_until) == (SeatStatus.SOLD, None)
    assert Wallet.objects.get(user=user).balance == 20_000
    payment_entry = LedgerEntry.objects.get(kind=LedgerKind.PAYMENT)
    assert (payment_entry.amount, payment_entry.balance_after) == (-80_000, 20_000)
    assert payment_entry.payment_id == payment.id
    assert ledger_sum(user) == 20_000
    event = OutboxEvent.objects.get()
    assert (event.event_type, event.payload) == ("payment_completed", {"payment_id": payment.id})
    listed = admitted_client.get("/api/reservations").json()["results"][0]
    assert (listed["status"], listed["paid_at"]) == ("paid", body["paid_at"])


def test_insufficient_balance_is_409_and_changes_nothing(admitted_client, user, held):
    fund(user, 79_999)
    before = snapshot()
    response = admitted_client.post(PAY, {"reservation_id": held["reservation_id"]}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_balance"
    assert snapshot() == before


def test_no_wallet_at_all_is_insufficient_balance(user, held):
    before = snapshot()
    with pytest.raises(InsufficientBalance):
        services.payment_create(user=user, reservation_id=held["reservation_id"])
    assert snapshot() == before


def test_a_free_seat_can_be_paid_without_a_wallet(user):
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=0).id)
    outcome = services.payment_create(user=user, reservation_id=hold["reservation_id"])
    assert outcome.body["balance"] == 0
    assert Wallet.objects.get(user=user).balance == 0


def test_expired_hold_is_410_and_changes_nothing(admitted_client, user, held):
    fund(user, 100_000)
    run_out(held["reservation_id"])
    before = snapshot()
    response = admitted_client.post(PAY, {"reservation_id": held["reservation_id"]}, format="json")
    assert response.status_code == 410
    assert response.json()["code"] == "hold_expired"
    assert snapshot() == before


def test_released_or_swept_hold_is_410(admitted_client, user, held):
    fund(user, 100_000)
    booking_services.reservation_cancel(user=user, reservation_id=held["reservation_id"])
    response = admitted_client.post(PAY, {"reservation_id": held["reservation_id"]}, format="json")
    assert (response.status_code, response.json()["code"]) == (410, "hold_expired")


def test_seat_freed_under_a_live_hold_is_410(user, held):
    """A sweep on a clock slightly ahead may free the seat first: the seat row has the last word."""
    fund(user, 100_000)
    Seat.objects.filter(pk=held["seat_id"]).update(status=SeatStatus.AVAILABLE, held_until=None)
    before = snapshot()
    with pytest.raises(Exception) as caught:
        services.payment_create(user=user, reservation_id=held["reservation_id"])
    assert getattr(caught.value, "code", None) == "hold_expired"
    assert snapshot() == before


def test_someone_elses_or_unknown_reservation_is_404(admitted_client, other_user):
    theirs = booking_services.reservation_hold(user=other_user, seat_id=SeatFactory().id)
    fund(other_user, 100_000)
    before = snapshot()
    for reservation_id in (theirs["reservation_id"], theirs["reservation_id"] + 99):
        response = admitted_client.post(PAY, {"reservation_id": reservation_id}, format="json")
        assert response.status_code == 404
        assert response.json()["code"] == "reservation_not_found"
    assert snapshot() == before


def test_paying_twice_is_409_already_paid(admitted_client, user, held):
    fund(user, 200_000)
    admitted_client.post(PAY, {"reservation_id": held["reservation_id"]}, format="json")
    before = snapshot()
    # A fresh token: the first payment gave the queue slot back.
    admitted_client.credentials(HTTP_QUEUE_TOKEN=admit(user))
    response = admitted_client.post(PAY, {"reservation_id": held["reservation_id"]}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "already_paid"
    assert snapshot() == before


def test_a_paid_reservation_cannot_be_released(admitted_client, user, held):
    fund(user, 100_000)
    services.payment_create(user=user, reservation_id=held["reservation_id"])
    before = snapshot()
    response = admitted_client.delete(f"/api/reservations/{held['reservation_id']}")
    assert (response.status_code, response.json()["code"]) == (409, "already_paid")
    assert snapshot() == before


def test_same_key_replays_the_payment(user, held):
    fund(user, 200_000)
    first = services.payment_create(
        user=user, reservation_id=held["reservation_id"], idempotency_key="pay-1"
    )
    again = services.payment_create(
        user=user, reservation_id=held["reservation_id"], idempotency_key="pay-1"
    )
    assert (first.status, first.replayed) == (201, False)
    assert (again.status, again.replayed) == (201, True)
    assert again.body == first.body
    assert Payment.objects.count() == 1
    assert Wallet.objects.get(user=user).balance == 120_000


def test_replay_over_http_is_byte_for_byte(user, held):
    fund(user, 200_000)
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_QUEUE_TOKEN=admit(user), HTTP_IDEMPOTENCY_KEY="pay-1")
    first = client.post(PAY, {"reservation_id": held["reservation_id"]}, format="json")
    client.credentials(HTTP_QUEUE_TOKEN=admit(user), HTTP_IDEMPOTENCY_KEY="pay-1")
    again = client.post(PAY, {"reservation_id": held["reservation_id"]}, format="json")
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    assert again["Idempotent-Replayed"] == "true"


def test_same_key_other_reservation_is_422(admitted_client, user, held):
    fund(user, 500_000)
    other = booking_services.reservation_hold(user=user, seat_id=SeatFactory().id)
    services.payment_create(
        user=user, reservation_id=held["reservation_id"], idempotency_key="pay-1"
    )
    before = snapshot()
    admitted_client.credentials(HTTP_QUEUE_TOKEN=admit(user), HTTP_IDEMPOTENCY_KEY="pay-1")
    response = admitted_client.post(PAY, {"reservation_id": other["reservation_id"]}, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert snapshot() == before


def test_a_failed_payment_leaves_its_key_free_for_the_retry(user, held):
    fund(user, 10)
    with pytest.raises(InsufficientBalance):
        services.payment_create(
            user=user, reservation_id=held["reservation_id"], idempotency_key="pay-1"
        )
    fund(user, 100_000)
    outcome = services.payment_create(
        user=user, reservation_id=held["reservation_id"], idempotency_key="pay-1"
    )
    assert (outcome.status, outcome.replayed) == (201, False)


def test_keys_are_scoped_per_endpoint(user, held):
    fund(user, 100_000)
    services.wallet_charge(user=user, amount=5, idempotency_key="same")
    outcome = services.payment_create(
        user=user, reservation_id=held["reservation_id"], idempotency_key="same"
    )
    assert outcome.replayed is False


def _age_key(key: str, seconds: float) -> None:
    IdempotencyKey.objects.filter(key=key).update(
        created_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_key_is_honoured_for_its_window_then_purged_and_new_again(user, settings):
    settings.IDEMPOTENCY_KEY_SECONDS = 3600
    services.wallet_charge(user=user, amount=5, idempotency_key="old")
    services.wallet_charge(user=user, amount=7, idempotency_key="fresh")
    _age_key("old", 3601)
    _age_key("fresh", 3500)

    assert tasks.idempotency_keys_purge() == 1  # what beat runs
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    assert tasks.idempotency_keys_purge() == 0

    fresh = services.wallet_charge(user=user, amount=7, idempotency_key="fresh")
    assert (fresh.replayed, fresh.body["balance"]) == (True, 12)
    old = services.wallet_charge(user=user, amount=5, idempotency_key="old")
    assert (old.replayed, old.body["balance"]) == (False, 17)  # charged again: the key is new
    assert Wallet.objects.get(user=user).balance == ledger_sum(user) == 17


def test_purging_many_keys_goes_in_batches(user, settings):
    settings.IDEMPOTENCY_KEY_SECONDS = 60
    for n in range(5):
        services.wallet_charge(user=user, amount=1, idempotency_key=f"k{n}")
        _age_key(f"k{n}", 61)
    services.wallet_charge(user=user, amount=1, idempotency_key="kept")
    with CaptureQueriesContext(connection) as queries:
        assert services.idempotency_keys_purge(batch_size=2) == 5
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 2 + 2 + 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["kept"]
    assert Wallet.objects.get(user=user).balance == ledger_sum(user) == 6


@pytest.mark.django_db(transaction=True)
def test_a_replay_whose_key_is_purged_meanwhile_is_a_new_request(user, settings):
    """The purge commits between the request's failed insert of its key and its read of the
    stored answer: the key is new again, so the top-up is made (not a 500, not lost)."""
    settings.IDEMPOTENCY_KEY_SECONDS = 60
    services.wallet_charge(user=user, amount=5, idempotency_key="k")
    _age_key("k", 61)
    purged = []

    def purge_in_another_connection():
        try:
            purged.append(services.idempotency_keys_purge())
        finally:
            connection.close()

    def purge_before_the_read(execute, sql, params, many, context):
        if not purged and sql.startswith("SELECT") and "payments_idempotencykey" in sql:
            worker = threading.Thread(target=purge_in_another_connection)
            worker.start()
            worker.join()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(purge_before_the_read):
        outcome = services.wallet_charge(user=user, amount=5, idempotency_key="k")
    assert purged == [1]
    assert (outcome.status, outcome.replayed, outcome.body["balance"]) == (200, False, 10)
    assert IdempotencyKey.objects.filter(key="k").count() == 1
    assert Wallet.objects.get(user=user).balance == ledger_sum(user) == 10


@pytest.mark.django_db(transaction=True)
def test_payment_completed_is_delivered_once(user, celery_eager):
    user.email = "alice@example.test"
    user.save(update_fields=["email"])
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=500).id)
    fund(user, 1000)
    services.payment_create(user=user, reservation_id=hold["reservation_id"])

    # Enqueued on commit and run inline here: delivered at once.
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.test"]
    assert "Reservation " + str(hold["reservation_id"]) in message.body
    event = OutboxEvent.objects.get()
    assert event.delivered_at is not None
    assert event.attempts == 1
    # The beat relay finds nothing left: no second email.
    assert tasks.outbox_relay() == 0
    assert len(mail.outbox) == 1


def test_payment_completed_survives_a_lost_enqueue(user, django_capture_on_commit_callbacks):
    user.email = "alice@example.test"
    user.save(update_fields=["email"])
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=500).id)
    fund(user, 1000)
    # The process "dies" right after the commit: the after-commit enqueue never runs.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.payment_create(user=user, reservation_id=hold["reservation_id"])
    # The queue release and the relay enqueue, both dropped.
    assert len(callbacks) == 2
    assert mail.outbox == []
    assert OutboxEvent.objects.get().delivered_at is None

    assert tasks.outbox_relay() == 1  # the beat relay
    assert len(mail.outbox) == 1
    assert tasks.outbox_relay() == 0
    assert tasks.outbox_relay(OutboxEvent.objects.get().id) == 0
    assert len(mail.outbox) == 1


def test_a_failing_event_is_kept_and_does_not_block_the_others(user):
    broken = OutboxEvent.objects.create(event_type="no_such_event", payload={})
    good = OutboxEvent.objects.create(
        event_type=OutboxEvent.PAYMENT_COMPLETED, payload={"payment_id": 0}
    )
    assert services.outbox_relay() == 1
    broken.refresh_from_db()
    good.refresh_from_db()
    assert broken.delivered_at is None
    assert broken.attempts == 1
    assert "KeyError" in broken.last_error
    assert good.delivered_at is not None
    assert services.outbox_relay() == 0
    broken.refresh_from_db()
    assert broken.attempts == 1  # backing off: not tried again at once
    back_offs_over(pk=broken.pk)
    assert services.outbox_relay() == 0
    broken.refresh_from_db()
    assert broken.attempts == 2


def test_a_failing_delivery_backs_off_then_waits_for_an_operator(
    user, settings, django_capture_on_commit_callbacks
):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    settings.OUTBOX_RELAY_INTERVAL_SECONDS = 5.0
    user.email = "alice@example.test"
    user.save(update_fields=["email"])
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=500).id)
    fund(user, 1000)
    # The mail server is down: nothing listens on port 1.
    mail_server_down(settings)
    with django_capture_on_commit_callbacks(execute=False):
        services.payment_create(user=user, reservation_id=hold["reservation_id"])
    event = OutboxEvent.objects.get()

    waits = []
    for attempt in (1, 2):
        tried_at = timezone.now()
        assert services.outbox_relay() == 0
        event.refresh_from_db()
        assert (event.attempts, event.delivered_at) == (attempt, None)
        assert "ConnectionRefusedError" in event.last_error
        waits.append(round((event.next_attempt_at - tried_at).total_seconds()))
        assert services.outbox_relay() == 0  # not due yet: not tried
        event.refresh_from_db()
        assert event.attempts == attempt
        back_offs_over(pk=event.pk)
    assert waits == [5, 10]
    # The OUTBOX_MAX_ATTEMPTS-th failure: no next try, and none made.
    assert services.outbox_relay() == 0
    event.refresh_from_db()
    assert (event.attempts, event.next_attempt_at, event.delivered_at) == (3, None, None)
    assert services.outbox_relay() == 0
    event.refresh_from_db()
    assert event.attempts == 3

    # The mail server is back; an operator tries again.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert services.outbox_retry(event_ids=[event.pk]) == 1
    assert len(callbacks) == 1  # a relay is queued once the retry commits
    assert services.outbox_relay() == 1
    assert [message.to for message in mail.outbox] == [["alice@example.test"]]
    event.refresh_from_db()
    assert event.delivered_at is not None
    assert services.outbox_retry(event_ids=[event.pk]) == 0  # delivered: left alone


def test_a_slow_failure_backs_off_from_its_end(user, settings):
    """A mail server that accepts and then stalls: the try lasts EMAIL_TIMEOUT, and the
    back-off starts when it ends, so the event is not due again at once."""
    settings.OUTBOX_RELAY_INTERVAL_SECONDS = 2.0
    settings.EMAIL_TIMEOUT = 1
    with socket.create_server(("127.0.0.1", 0)) as stalling:  # accepts, never greets
        mail_server_down(settings, port=stalling.getsockname()[1])
        user.email = "alice@example.test"
        user.save(update_fields=["email"])
        hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=500).id)
        fund(user, 1000)
        services.payment_create(user=user, reservation_id=hold["reservation_id"])
        event = OutboxEvent.objects.get()
        started = timezone.now()
        assert services.outbox_relay() == 0
    event.refresh_from_db()
    assert event.attempts == 1
    assert "timed out" in event.last_error
    # At least the try (1 s) plus the back-off (2 s) after the try began.
    assert event.next_attempt_at - started >= timedelta(seconds=2.9)
    assert services.outbox_relay() == 0
    event.refresh_from_db()
    assert event.attempts == 1


def test_the_relay_goes_by_the_database_clock(monkeypatch):
    """A new event is due from the database's now(); a worker whose clock runs behind still
    delivers it at once instead of leaving it to the next beat."""
    OutboxEvent.objects.create(event_type=OutboxEvent.PAYMENT_COMPLETED, payload={"payment_id": 0})
    lagging = timezone.now() - timedelta(seconds=30)
    monkeypatch.setattr(timezone, "now", lambda: lagging)
    assert services.outbox_relay() == 1


def test_a_failing_event_waits_at_most_an_hour_between_tries(settings):
    settings.OUTBOX_RELAY_INTERVAL_SECONDS = 5.0
    assert services._outbox_retry_delay(1) == timedelta(seconds=5)
    assert services._outbox_retry_delay(10) == timedelta(seconds=2560)
    assert services._outbox_retry_delay(11) == timedelta(hours=1)
    assert services._outbox_retry_delay(10_000) == timedelta(hours=1)


def _admitted_api_client(user) -> tuple[APIClient, str]:
    client = APIClient()
    client.force_authenticate(user)
    token = admit(user)
    client.credentials(HTTP_QUEUE_TOKEN=token)
    return client, token


def test_paying_one_of_two_holds_keeps_the_buyer_admitted(user, django_capture_on_commit_callbacks):
    fund(user, 200_000)
    client, token = _admitted_api_client(user)
    first, second = (
        client.post(
            "/api/reservation/concerts", {"seat_id": SeatFactory(price=80_000).id}, format="json"
        ).json()["reservation_id"]
        for _ in range(2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        paid = client.post(PAY, {"reservation_id": first}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert paid.status_code == 201
    assert queue_token_active(user, token)

    # A replay of that payment with its key still passes the gate and answers the same.
    again = client.post(PAY, {"reservation_id": first}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert (again.status_code, again.content) == (201, paid.content)

    # The second seat is paid through the gate; that was the last hold, so the slot goes back.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(PAY, {"reservation_id": second}, format="json")
    assert response.status_code == 201, response.content
    assert Payment.objects.count() == 2
    assert not queue_token_active(user, token)


def test_paying_the_last_hold_gives_the_queue_slot_back(
    user, held, django_capture_on_commit_callbacks
):
    fund(user, 100_000)
    client, token = _admitted_api_client(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(PAY, {"reservation_id": held["reservation_id"]}, format="json")
    assert response.status_code == 201
    assert not queue_token_active(user, token)
    # The token no longer opens the gate: the next buyer gets the slot.
    after = client.post("/api/reservation/concerts", {"seat_id": SeatFactory().id}, format="json")
    assert after.status_code == 403
    assert after.json()["code"].startswith("queue_")


def test_an_expired_other_hold_does_not_keep_the_slot(
    user, held, django_capture_on_commit_callbacks
):
    fund(user, 100_000)
    token = admit(user)
    stale = booking_services.reservation_hold(user=user, seat_id=SeatFactory().id)
    run_out(stale["reservation_id"])  # still "held" in the table, but past its deadline
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_create(user=user, reservation_id=held["reservation_id"])
    assert not queue_token_active(user, token)


@pytest.mark.parametrize("shared", [True, False], ids=["one-server", "queue-elsewhere"])
def test_a_queue_outage_after_commit_leaves_the_payment_made(
    user, held, settings, django_capture_on_commit_callbacks, shared
):
    """The slot's release fails (the queue's Redis is away) once the payment has committed: the
    failure is logged, the buyer still gets their 201 and the payment stands. With one server
    for the queue and the cache, the relay mark fails too."""
    from concertbooking.redis import queue_redis

    fund(user, 100_000)
    settings.QUEUE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    if shared:
        settings.REDIS_URL = settings.QUEUE_REDIS_URL
    queue_redis.cache_clear()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            outcome = services.payment_create(user=user, reservation_id=held["reservation_id"])
    finally:
        queue_redis.cache_clear()
    assert outcome.status == 201
    assert Payment.objects.filter(reservation_id=held["reservation_id"]).exists()
