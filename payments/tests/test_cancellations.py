"""A buyer cancels their own paid ticket: refunded less the fee until the deadline, through the
refund the operator's console uses; the service, the API and the emails."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.errors import AccountInactive
from booking import services as booking_services
from booking.errors import (
    CancelDeadlinePassed,
    ReservationNotFound,
    ReservationNotPaid,
    TicketAlreadyCancelled,
    TicketCheckedIn,
)
from booking.models import CheckIn, Reservation, ReservationStatus, Seat, SeatStatus
from booking.tests.factories import ScheduleFactory, SeatFactory
from payments import services
from payments.audit import invariants_audit
from payments.errors import IdempotencyKeyReused, InvalidIdempotencyKey
from payments.models import LedgerEntry, LedgerKind, OutboxEvent, Payment, Wallet
from payments.selectors import refund_fee, wallet_balance
from payments.tests.conftest import fund, ledger_sum, snapshot

pytestmark = pytest.mark.django_db


def cancel_url(reservation_id: int) -> str:
    return f"/api/reservations/{reservation_id}/cancel"


def paid_ticket(user, *, price: int = 80_000, days: int = 10, extra: int = 0) -> int:
    """`user` holds and pays a seat priced `price` on a date `days` out; `extra` is left over."""
    schedule = ScheduleFactory(starts_at=timezone.now() + timedelta(days=days))
    seat = SeatFactory(schedule=schedule, price=price)
    hold = booking_services.reservation_hold(user=user, seat_id=seat.pk)
    if price + extra:
        fund(user, price + extra)
    services.payment_create(user=user, reservation_id=hold["reservation_id"])
    return hold["reservation_id"]


def show_moves_to(reservation_id: int, starts_at) -> None:
    """The date is rescheduled (or time passes): the show starts at `starts_at`."""
    seat = Seat.objects.get(reservations__pk=reservation_id)
    type(seat.schedule).objects.filter(pk=seat.schedule_id).update(starts_at=starts_at)


def checked_in(reservation_id: int) -> None:
    reservation = Reservation.objects.select_related("seat").get(pk=reservation_id)
    CheckIn.objects.create(reservation=reservation, schedule_id=reservation.seat.schedule_id)


def clean(report: dict) -> bool:
    return all(row["count"] == 0 for name, row in report.items() if name != "totals")


# --- The service --------------------------------------------------------------------------


def test_a_cancel_refunds_frees_the_seat_and_writes_the_ledger(user):
    reservation_id = paid_ticket(user, extra=5_000)
    assert wallet_balance(user_id=user.pk) == 5_000

    outcome = services.ticket_cancel(user=user, reservation_id=reservation_id)

    assert (outcome.status, outcome.replayed) == (200, False)
    assert outcome.body == {
        "reservation_id": reservation_id,
        "status": "cancelled",
        "refunded": 80_000,
        "fee": 0,
        "balance": 85_000,
    }
    reservation = Reservation.objects.get(pk=reservation_id)
    assert reservation.status == ReservationStatus.CANCELLED
    assert Seat.objects.get(pk=reservation.seat_id).status == SeatStatus.AVAILABLE
    refund = LedgerEntry.objects.get(kind=LedgerKind.REFUND)
    payment = Payment.objects.get(reservation_id=reservation_id)
    assert (refund.amount, refund.balance_after, refund.payment_id) == (80_000, 85_000, payment.pk)
    assert Wallet.objects.get(user=user).balance == ledger_sum(user) == 85_000
    event = OutboxEvent.objects.get(event_type=OutboxEvent.PAYMENT_REFUNDED)
    assert event.payload == {"payment_id": payment.pk, "refunded": 80_000, "fee": 0, "by": "buyer"}
    assert clean(invariants_audit())


def test_the_fee_is_kept_and_rounded_down_in_the_buyers_favour(user, settings):
    settings.CANCEL_FEE_PERCENT = 10
    reservation_id = paid_ticket(user, price=80_001)

    body = services.ticket_cancel(user=user, reservation_id=reservation_id).body

    # 10% of 80,001 is 8,000.1: the fee is 8,000 and the buyer gets 72,001.
    assert (body["refunded"], body["fee"], body["balance"]) == (72_001, 8_000, 72_001)
    assert LedgerEntry.objects.get(kind=LedgerKind.REFUND).amount == 72_001
    assert Wallet.objects.get(user=user).balance == ledger_sum(user) == 72_001
    assert clean(invariants_audit())


@pytest.mark.parametrize(
    ("amount", "percent", "fee"),
    [(80_001, 10, 8_000), (99, 1, 0), (100, 1, 1), (80_000, 0, 0), (80_000, 100, 80_000)],
)
def test_the_fee_rounds_down(amount, percent, fee):
    assert refund_fee(amount, percent=percent) == fee


def test_a_fee_never_exceeds_what_was_paid_nor_adds_to_it():
    assert refund_fee(500, percent=150) == 500
    assert refund_fee(500, percent=-5) == 0


def test_a_free_ticket_cancels_to_nothing_refunded(user):
    reservation_id = paid_ticket(user, price=0)
    body = services.ticket_cancel(user=user, reservation_id=reservation_id).body
    assert (body["refunded"], body["fee"], body["balance"]) == (0, 0, 0)
    assert clean(invariants_audit())


def refused(user, reservation_id: int, error: type, **kwargs) -> Exception:
    """The cancel is refused with `error` and changes nothing."""
    before = snapshot()
    with pytest.raises(error) as caught:
        services.ticket_cancel(user=user, reservation_id=reservation_id, **kwargs)
    assert snapshot() == before
    return caught.value


def test_someone_elses_ticket_is_not_found_like_an_unknown_one(user, other_user):
    reservation_id = paid_ticket(other_user)
    foreign = refused(user, reservation_id, ReservationNotFound)
    unknown = refused(user, 987654321, ReservationNotFound)
    assert (foreign.code, foreign.detail) == (unknown.code, unknown.detail)
    assert foreign.code == "reservation_not_found"


def test_a_hold_is_not_cancelled_but_released(user):
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)
    error = refused(user, hold["reservation_id"], ReservationNotPaid)
    assert (error.code, error.status_code) == ("reservation_not_paid", 409)


def test_a_released_hold_is_not_paid_either(user):
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)
    booking_services.reservation_cancel(user=user, reservation_id=hold["reservation_id"])
    refused(user, hold["reservation_id"], ReservationNotPaid)


def test_a_ticket_is_cancelled_once(user):
    reservation_id = paid_ticket(user)
    services.ticket_cancel(user=user, reservation_id=reservation_id)
    error = refused(user, reservation_id, TicketAlreadyCancelled)
    assert (error.code, error.status_code) == ("ticket_already_cancelled", 409)


def test_a_ticket_the_operator_refunded_is_already_cancelled(user):
    reservation_id = paid_ticket(user)
    services.payment_refund(reservation_id=reservation_id)
    refused(user, reservation_id, TicketAlreadyCancelled)


def test_past_the_deadline_the_ticket_stays(user, settings):
    settings.CANCEL_UNTIL_HOURS = 48
    reservation_id = paid_ticket(user)
    starts_at = timezone.now() + timedelta(hours=47)
    show_moves_to(reservation_id, starts_at)

    error = refused(user, reservation_id, CancelDeadlinePassed)

    assert (error.code, error.status_code) == ("cancel_deadline_passed", 409)
    deadline = starts_at - timedelta(hours=48)
    assert error.as_dict()["deadline"] == deadline.isoformat().replace("+00:00", "Z")
    assert "could be cancelled until" in error.detail


def test_just_before_the_deadline_it_cancels(user, settings):
    settings.CANCEL_UNTIL_HOURS = 48
    reservation_id = paid_ticket(user)
    show_moves_to(reservation_id, timezone.now() + timedelta(hours=48, minutes=5))
    assert services.ticket_cancel(user=user, reservation_id=reservation_id).status == 200


def test_once_the_show_started_the_ticket_stays_whatever_the_deadline(user, settings):
    settings.CANCEL_UNTIL_HOURS = -5  # a deadline after the start must not reach past it
    reservation_id = paid_ticket(user)
    show_moves_to(reservation_id, timezone.now() - timedelta(minutes=1))
    refused(user, reservation_id, CancelDeadlinePassed)


def test_a_checked_in_ticket_stays(user, settings):
    settings.CANCEL_UNTIL_HOURS = 0
    reservation_id = paid_ticket(user)
    checked_in(reservation_id)
    error = refused(user, reservation_id, TicketCheckedIn)
    assert (error.code, error.status_code) == ("ticket_checked_in", 409)


def test_the_operator_refunds_in_full_past_the_deadline_and_after_a_cancel_fee_setting(
    user, settings
):
    settings.CANCEL_FEE_PERCENT = 25
    reservation_id = paid_ticket(user)
    show_moves_to(reservation_id, timezone.now() + timedelta(hours=1))
    assert services.payment_refund(reservation_id=reservation_id) == 80_000
    refund = LedgerEntry.objects.get(kind=LedgerKind.REFUND)
    assert refund.amount == 80_000
    event = OutboxEvent.objects.get(event_type=OutboxEvent.PAYMENT_REFUNDED)
    assert event.payload["by"] == "operator" and event.payload["fee"] == 0


# --- Idempotency ----------------------------------------------------------------------------


def test_a_retry_with_the_key_replays_the_first_answer(user):
    reservation_id = paid_ticket(user)
    first = services.ticket_cancel(user=user, reservation_id=reservation_id, idempotency_key="k1")
    before = snapshot()
    again = services.ticket_cancel(user=user, reservation_id=reservation_id, idempotency_key="k1")
    assert snapshot() == before
    assert (again.status, again.body, again.replayed) == (first.status, first.body, True)
    # A new key is a new request: the ticket is cancelled already.
    refused(user, reservation_id, TicketAlreadyCancelled, idempotency_key="k2")


def test_the_key_with_another_reservation_is_refused(user):
    first_id = paid_ticket(user)
    second_id = paid_ticket(user)
    services.ticket_cancel(user=user, reservation_id=first_id, idempotency_key="k1")
    refused(user, second_id, IdempotencyKeyReused, idempotency_key="k1")
    assert Reservation.objects.get(pk=second_id).status == ReservationStatus.PAID


def test_a_failed_cancel_can_be_retried_with_its_key(user, settings):
    reservation_id = paid_ticket(user)
    checked = settings.CANCEL_UNTIL_HOURS
    settings.CANCEL_UNTIL_HOURS = 24 * 365
    refused(user, reservation_id, CancelDeadlinePassed, idempotency_key="k1")
    settings.CANCEL_UNTIL_HOURS = checked
    outcome = services.ticket_cancel(user=user, reservation_id=reservation_id, idempotency_key="k1")
    assert (outcome.status, outcome.replayed) == (200, False)


def test_a_malformed_key_is_refused(user):
    reservation_id = paid_ticket(user)
    refused(user, reservation_id, InvalidIdempotencyKey, idempotency_key="")


# --- The API --------------------------------------------------------------------------------


def test_api_cancels_and_answers_the_refund(auth_client, user):
    reservation_id = paid_ticket(user, extra=1)
    response = auth_client.post(cancel_url(reservation_id))
    assert response.status_code == 200
    assert response.json() == {
        "reservation_id": reservation_id,
        "status": "cancelled",
        "refunded": 80_000,
        "fee": 0,
        "balance": 80_001,
    }
    assert "Idempotent-Replayed" not in response


def test_api_replays_with_the_key_and_refuses_it_for_another_ticket(auth_client, user):
    first_id, second_id = paid_ticket(user), paid_ticket(user)
    auth_client.credentials(HTTP_IDEMPOTENCY_KEY="cancel-1")
    first = auth_client.post(cancel_url(first_id))
    before = snapshot()
    again = auth_client.post(cancel_url(first_id))
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again["Idempotent-Replayed"] == "true"
    other = auth_client.post(cancel_url(second_id))
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert snapshot() == before


def api_refused(client, reservation_id: int, status: int, code: str) -> dict:
    before = snapshot()
    response = client.post(cancel_url(reservation_id))
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert snapshot() == before
    return response.json()


def test_api_refusals_have_stable_codes_and_change_nothing(auth_client, user, other_user):
    api_refused(auth_client, paid_ticket(other_user), 404, "reservation_not_found")
    api_refused(auth_client, 987654321, 404, "reservation_not_found")
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)
    api_refused(auth_client, hold["reservation_id"], 409, "reservation_not_paid")

    late = paid_ticket(user)
    show_moves_to(late, timezone.now() + timedelta(hours=1))
    body = api_refused(auth_client, late, 409, "cancel_deadline_passed")
    assert set(body) == {"code", "detail", "deadline"}

    scanned = paid_ticket(user)
    checked_in(scanned)
    api_refused(auth_client, scanned, 409, "ticket_checked_in")

    done = paid_ticket(user)
    assert auth_client.post(cancel_url(done)).status_code == 200
    api_refused(auth_client, done, 409, "ticket_already_cancelled")


def test_api_needs_a_signed_in_buyer_but_no_queue_place(api_client, auth_client, user):
    reservation_id = paid_ticket(user)
    assert api_client.post(cancel_url(reservation_id)).status_code == 401
    # auth_client holds no queue token at all.
    assert auth_client.post(cancel_url(reservation_id)).status_code == 200


def test_api_refuses_a_malformed_key(auth_client, user):
    reservation_id = paid_ticket(user)
    auth_client.credentials(HTTP_IDEMPOTENCY_KEY="x" * 256)
    api_refused(auth_client, reservation_id, 400, "invalid_idempotency_key")


def test_api_other_methods_are_not_allowed(auth_client, user):
    reservation_id = paid_ticket(user)
    assert auth_client.get(cancel_url(reservation_id)).status_code == 405


# --- The email ------------------------------------------------------------------------------


def test_the_buyer_is_emailed_what_was_refunded_and_the_fee(user, settings):
    settings.CANCEL_FEE_PERCENT = 10
    user.email = "alice@example.test"
    user.save(update_fields=["email"])
    reservation_id = paid_ticket(user)
    services.outbox_relay()
    mail.outbox.clear()

    services.ticket_cancel(user=user, reservation_id=reservation_id)
    assert services.outbox_relay() == 1

    [message] = mail.outbox
    assert message.subject.startswith("Cancelled: ")
    assert "you cancelled this ticket" in message.body
    assert "72,000 of the 80,000 you paid went back to your balance" in message.body
    assert "cancellation fee of 8,000" in message.body
    assert f"Reservation {reservation_id}" in message.body


def test_without_a_fee_the_email_says_all_was_paid_back(user):
    user.email = "alice@example.test"
    user.save(update_fields=["email"])
    reservation_id = paid_ticket(user)
    services.ticket_cancel(user=user, reservation_id=reservation_id)
    mail.outbox.clear()
    services.outbox_relay()
    [message] = [m for m in mail.outbox if m.subject.startswith("Cancelled")]
    assert "the 80,000 you paid went back to your balance" in message.body
    assert "fee" not in message.body


def test_an_event_written_before_refunds_named_their_maker_reads_as_the_operators(user):
    user.email = "alice@example.test"
    user.save(update_fields=["email"])
    reservation_id = paid_ticket(user)
    services.outbox_relay()
    mail.outbox.clear()
    services.payment_refund(reservation_id=reservation_id)
    OutboxEvent.objects.filter(event_type=OutboxEvent.PAYMENT_REFUNDED).update(
        payload={"payment_id": Payment.objects.get().pk}
    )
    assert services.outbox_relay() == 1
    [message] = mail.outbox
    assert message.subject.startswith("Refunded: ")
    assert "80,000 paid back" in message.body


def test_a_deactivated_buyer_cannot_cancel(user):
    reservation_id = paid_ticket(user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    error = refused(user, reservation_id, AccountInactive)
    assert (error.code, error.status_code) == ("account_inactive", 403)
