"""Operator money moves: refunds of paid seats and balance adjustments, services and console."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from booking import services as booking_services
from booking.errors import ReservationNotFound
from booking.models import Reservation, ReservationStatus, Seat, SeatStatus
from booking.tests.factories import SeatFactory
from concertbooking.errors import Conflict
from payments import services
from payments.audit import invariants_audit
from payments.errors import InsufficientBalance, InvalidAmount
from payments.models import LedgerEntry, LedgerKind, OutboxEvent, Payment, TopUp, Wallet
from payments.tests.conftest import (
    back_offs_over,
    fund,
    ledger_sum,
    mail_server_down,
    snapshot,
)

pytestmark = pytest.mark.django_db


def _paid(user, *, price: int = 80_000, balance: int = 100_000) -> int:
    seat = SeatFactory(price=price)
    hold = booking_services.reservation_hold(user=user, seat_id=seat.pk)
    fund(user, balance)
    services.payment_create(user=user, reservation_id=hold["reservation_id"])
    return hold["reservation_id"]


def _clean(report: dict) -> bool:
    return all(v["count"] == 0 for k, v in report.items() if k != "totals")


# --- Refunds -------------------------------------------------------------------------------


def test_refund_cancels_frees_the_seat_and_credits_with_a_ledger_row(user):
    reservation_id = _paid(user)
    assert services.payment_refund(reservation_id=reservation_id) == 100_000

    reservation = Reservation.objects.get(pk=reservation_id)
    assert reservation.status == ReservationStatus.CANCELLED
    assert Seat.objects.get(pk=reservation.seat_id).status == SeatStatus.AVAILABLE
    refund = LedgerEntry.objects.get(kind=LedgerKind.REFUND)
    payment = Payment.objects.get(reservation_id=reservation_id)
    assert (refund.amount, refund.balance_after, refund.payment_id) == (80_000, 100_000, payment.pk)
    assert Wallet.objects.get(user=user).balance == ledger_sum(user) == 100_000
    assert _clean(invariants_audit())
    # The seat can be sold again.
    other = get_user_model().objects.create_user("again", password="x")
    booking_services.reservation_hold(user=other, seat_id=reservation.seat_id)


def _paid_and_confirmed(user) -> int:
    """_paid, by a buyer with an email address whose payment confirmation already went out."""
    user.email = "alice@example.test"
    user.save(update_fields=["email"])
    reservation_id = _paid(user)
    services.outbox_relay()
    mail.outbox.clear()
    return reservation_id


def test_a_refund_emails_the_buyer_once_it_commits(
    user, celery_eager, django_capture_on_commit_callbacks
):
    reservation_id = _paid_and_confirmed(user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.payment_refund(reservation_id=reservation_id)
    assert mail.outbox == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.test"]
    assert message.subject.startswith("Refunded: ")
    assert "80,000 paid back" in message.body
    assert f"Reservation {reservation_id}" in message.body
    event = OutboxEvent.objects.get(event_type=OutboxEvent.PAYMENT_REFUNDED)
    assert event.delivered_at is not None
    assert services.outbox_relay() == 0  # delivered once


def test_a_refund_whose_email_is_lost_is_sent_by_the_beat_relay(
    user, django_capture_on_commit_callbacks
):
    reservation_id = _paid_and_confirmed(user)
    with django_capture_on_commit_callbacks(execute=False):  # the process dies after commit
        services.payment_refund(reservation_id=reservation_id)
    assert mail.outbox == []
    assert services.outbox_relay() == 1  # the beat relay
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Refunded"]


def test_a_confirmation_held_up_until_after_the_refund_is_not_sent(user, settings):
    user.email = "alice@example.test"
    user.save(update_fields=["email"])
    mail_server_down(settings)
    reservation_id = _paid(user)
    assert services.outbox_relay() == 0  # the confirmation fails and backs off
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # back up
    services.payment_refund(reservation_id=reservation_id)
    back_offs_over()
    assert services.outbox_relay() == 2
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Refunded"]


def test_a_failed_refund_queues_no_email(user):
    reservation_id = _paid(user)
    services.payment_refund(reservation_id=reservation_id)
    before = OutboxEvent.objects.count()
    with pytest.raises(Conflict):
        services.payment_refund(reservation_id=reservation_id)
    assert OutboxEvent.objects.count() == before


def test_only_a_paid_reservation_can_be_refunded(user):
    reservation_id = _paid(user)
    services.payment_refund(reservation_id=reservation_id)
    before = snapshot()
    with pytest.raises(Conflict):
        services.payment_refund(reservation_id=reservation_id)
    held = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)
    with pytest.raises(Conflict):
        services.payment_refund(reservation_id=held["reservation_id"])
    with pytest.raises(ReservationNotFound):
        services.payment_refund(reservation_id=987654321)
    after = snapshot()
    after["Seat"] = after["Seat"][:-1]  # the seat made for the hold above
    after["Reservation"] = after["Reservation"][:-1]
    assert after == before


@pytest.mark.django_db(transaction=True)
def test_parallel_refunds_of_one_reservation_pay_back_once(user):
    reservation_id = _paid(user, balance=80_000)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def refund():
        try:
            barrier.wait()
            services.payment_refund(reservation_id=reservation_id)
            outcomes.append("refunded")
        except Conflict:
            outcomes.append("conflict")
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=refund) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["refunded"]
    assert Wallet.objects.get(user=user).balance == ledger_sum(user) == 80_000
    assert LedgerEntry.objects.filter(kind=LedgerKind.REFUND).count() == 1


# --- Adjustments ---------------------------------------------------------------------------


def test_adjustments_credit_and_debit_with_ledger_rows(user, other_user):
    operator = other_user
    assert services.wallet_adjust(operator=operator, user_id=user.pk, amount=500).body == {
        "balance": 500
    }
    assert services.wallet_adjust(operator=operator, user_id=user.pk, amount=-200).body == {
        "balance": 300
    }
    kinds = list(LedgerEntry.objects.order_by("id").values_list("kind", "amount"))
    assert kinds == [(LedgerKind.ADJUSTMENT, 500), (LedgerKind.ADJUSTMENT, -200)]
    assert ledger_sum(user) == 300


def test_a_debit_never_overdraws(user, other_user):
    fund(user, 100)
    before = snapshot()
    with pytest.raises(InsufficientBalance):
        services.wallet_adjust(operator=other_user, user_id=user.pk, amount=-101)
    stranger = get_user_model().objects.create_user("nowallet", password="x")
    with pytest.raises(InsufficientBalance):
        services.wallet_adjust(operator=other_user, user_id=stranger.pk, amount=-1)
    assert snapshot() == before


@pytest.mark.parametrize("amount", [0, True, 1.5, "10", 10**12, -(10**12), None])
def test_odd_adjustments_are_refused(user, other_user, amount):
    with pytest.raises(InvalidAmount):
        services.wallet_adjust(operator=other_user, user_id=user.pk, amount=amount)
    assert not LedgerEntry.objects.exists()


def test_an_adjustment_sent_twice_counts_once(user, other_user):
    for _ in range(2):
        services.wallet_adjust(
            operator=other_user, user_id=user.pk, amount=700, idempotency_key="form-1"
        )
    assert Wallet.objects.get(user=user).balance == 700


# --- The console ---------------------------------------------------------------------------


@pytest.fixture
def operator(db) -> Client:
    staff = get_user_model().objects.create_superuser("op", "op@example.com", "op-pass-123")
    client = Client()
    client.force_login(staff)
    client.get(reverse("admin:index"))
    return client


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize(
    "name",
    [
        "admin:payments_payment_changelist",
        "admin:payments_ledgerentry_changelist",
        "admin:payments_topup_changelist",
        "admin:payments_wallet_changelist",
        "admin:payments_outboxevent_changelist",
        "admin:booking_reservation_changelist",
    ],
)
def test_money_lists_cost_the_same_for_few_and_many(operator, name, django_user_model):
    def buyers(count, start):
        for i in range(count):
            _paid(django_user_model.objects.create_user(f"b{start + i}", password="x"))

    buyers(2, 0)
    few = _count(operator, reverse(name))
    buyers(12, 100)
    assert _count(operator, reverse(name)) == few


@pytest.mark.parametrize(
    "name",
    [
        "admin:payments_payment_add",
        "admin:payments_ledgerentry_add",
        "admin:payments_topup_add",
        "admin:payments_wallet_add",
        "admin:payments_outboxevent_add",
    ],
)
def test_money_rows_cannot_be_made_by_hand(operator, name):
    assert operator.get(reverse(name)).status_code == 403


def test_ledger_entries_cannot_be_edited(operator, user):
    fund(user, 100)
    entry = LedgerEntry.objects.get()
    url = reverse("admin:payments_ledgerentry_change", args=[entry.pk])
    assert operator.get(url).status_code == 200
    assert operator.post(url, {"amount": "999999"}).status_code == 403
    entry.refresh_from_db()
    assert entry.amount == 100


def test_the_ledger_names_the_gateway_payment_of_each_credit(operator, user):
    fund(user, 100)
    top_up = TopUp.objects.get()
    page = operator.get(reverse("admin:payments_ledgerentry_changelist")).content.decode()
    assert f"sandbox: {top_up.gateway_payment_id}" in page
    found = operator.get(
        reverse("admin:payments_ledgerentry_changelist"), {"q": top_up.gateway_payment_id}
    )
    assert list(found.context["cl"].result_list) == [LedgerEntry.objects.get()]
    wallets = operator.get(reverse("admin:payments_wallet_changelist")).content.decode()
    assert f"/admin/payments/topup/?user__id__exact={user.pk}" in wallets


def test_operator_adjusts_a_wallet_through_a_form(operator, user):
    fund(user, 1_000)
    wallet = Wallet.objects.get(user=user)
    url = reverse("admin:payments_wallet_changelist")
    form = operator.post(url, {"action": "adjust_balance", "_selected_action": [wallet.pk]})
    assert form.status_code == 200
    key = form.context["form"].initial["idempotency_key"]
    data = {
        "action": "adjust_balance",
        "_selected_action": [wallet.pk],
        "apply": "1",
        "amount": "-400",
        "idempotency_key": key,
    }
    done = operator.post(url, data, follow=True)
    assert "balance is now 600 (ledger entry written)" in done.content.decode()
    operator.post(url, data)  # the same form again: no second adjustment
    assert Wallet.objects.get(pk=wallet.pk).balance == 600 == ledger_sum(user)

    for amount in ("0", "abc", "", "9" * 30, "-5000"):
        response = operator.post(url, {**data, "amount": amount, "idempotency_key": "k2"})
        assert response.status_code in (200, 302)
    assert Wallet.objects.get(pk=wallet.pk).balance == 600 == ledger_sum(user)


def test_operator_refunds_a_paid_reservation_after_confirming(operator, user):
    reservation_id = _paid(user)
    url = reverse("admin:booking_reservation_changelist")
    data = {"action": "refund_paid", "_selected_action": [reservation_id]}
    confirm = operator.post(url, data)
    assert confirm.status_code == 200
    assert "Yes, refund them" in confirm.content.decode()
    assert Reservation.objects.get(pk=reservation_id).status == ReservationStatus.PAID

    done = operator.post(url, {**data, "apply": "1"}, follow=True)
    assert "Refunded 1 reservation(s), 80,000 in all" in done.content.decode()
    assert Reservation.objects.get(pk=reservation_id).status == ReservationStatus.CANCELLED
    assert Wallet.objects.get(user=user).balance == 100_000 == ledger_sum(user)
    again = operator.post(url, {**data, "apply": "1"}, follow=True)
    assert "None of the selected reservations is paid." in again.content.decode()
    assert Wallet.objects.get(user=user).balance == 100_000


@pytest.mark.parametrize(
    "path",
    [
        "/admin/payments/payment/?q=%00",
        "/admin/payments/payment/?q=abc",
        "/admin/payments/payment/?paid_at__gte=nonsense",
        "/admin/payments/ledgerentry/?kind__exact=nonsense",
        "/admin/payments/ledgerentry/?wallet__id__exact=abc",
        "/admin/payments/ledgerentry/?q=" + "9" * 40,
        "/admin/payments/topup/?q=" + "9" * 40,
        "/admin/payments/topup/?status__exact=nonsense",
        "/admin/payments/wallet/?q=%00",
        "/admin/payments/wallet/99999999999999999999/change/",
        "/admin/booking/reservation/?q=" + "9" * 40,
        "/admin/payments/outboxevent/?state=nonsense",
        "/admin/payments/outboxevent/?state=given_up&event_type=%00",
        "/admin/payments/outboxevent/?q=abc",
        "/admin/payments/outboxevent/99999999999999999999/change/",
    ],
)
def test_odd_money_console_urls_never_fail(operator, user, path):
    _paid(user)
    assert operator.get(path).status_code in (200, 302, 404)


# --- Who may move money in the console -----------------------------------------------------


def _staff(django_user_model, *codenames: str, username: str = "clerk") -> Client:
    staff = django_user_model.objects.create_user(username, password="x", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client


def _adjust(client, wallet, key: str):
    return client.post(
        reverse("admin:payments_wallet_changelist"),
        {
            "action": "adjust_balance",
            "_selected_action": [wallet.pk],
            "apply": "1",
            "amount": "9999",
            "idempotency_key": key,
        },
    )


def test_staff_who_may_only_view_wallets_cannot_adjust_a_balance(django_user_model, user):
    fund(user, 100)
    wallet = Wallet.objects.get(user=user)
    viewer = _staff(django_user_model, "view_wallet")
    page = viewer.get(reverse("admin:payments_wallet_changelist"))
    assert page.status_code == 200
    assert "adjust_balance" not in page.content.decode()
    before = snapshot()
    assert _adjust(viewer, wallet, "k1").status_code == 403
    assert snapshot() == before


def test_staff_who_may_change_wallets_can_adjust_a_balance(django_user_model, user):
    fund(user, 100)
    wallet = Wallet.objects.get(user=user)
    clerk = _staff(django_user_model, "view_wallet", "change_wallet")
    assert (
        "adjust_balance" in clerk.get(reverse("admin:payments_wallet_changelist")).content.decode()
    )
    assert _adjust(clerk, wallet, "k1").status_code == 302
    assert Wallet.objects.get(pk=wallet.pk).balance == 10_099 == ledger_sum(user)


def _refund(client, reservation_id: int):
    return client.post(
        reverse("admin:booking_reservation_changelist"),
        {"action": "refund_paid", "_selected_action": [reservation_id], "apply": "1"},
    )


def test_staff_who_may_only_view_reservations_cannot_refund(django_user_model, user):
    reservation_id = _paid(user)
    viewer = _staff(django_user_model, "view_reservation")
    page = viewer.get(reverse("admin:booking_reservation_changelist")).content.decode()
    assert "refund_paid" not in page and "release_holds" not in page
    before = snapshot()
    assert _refund(viewer, reservation_id).status_code == 403
    assert snapshot() == before
    # Money rights alone do not reach reservations either.
    wallet_clerk = _staff(
        django_user_model, "view_reservation", "change_wallet", username="cashier"
    )
    assert _refund(wallet_clerk, reservation_id).status_code == 403
    assert snapshot() == before


def test_staff_who_may_change_reservations_can_refund(django_user_model, user):
    reservation_id = _paid(user)
    clerk = _staff(django_user_model, "view_reservation", "change_reservation")
    page = clerk.get(reverse("admin:booking_reservation_changelist")).content.decode()
    assert "refund_paid" in page and "release_holds" in page
    assert _refund(clerk, reservation_id).status_code == 302
    assert Reservation.objects.get(pk=reservation_id).status == ReservationStatus.CANCELLED
    assert Wallet.objects.get(user=user).balance == 100_000 == ledger_sum(user)


def _retry(client, event_id: int):
    return client.post(
        reverse("admin:payments_outboxevent_changelist"),
        {"action": "retry_now", "_selected_action": [event_id]},
    )


def _given_up(settings) -> OutboxEvent:
    return OutboxEvent.objects.create(
        event_type="no_such_event",
        payload={},
        attempts=settings.OUTBOX_MAX_ATTEMPTS,
        next_attempt_at=None,
        last_error="KeyError: 'no_such_event'",
    )


def test_operator_finds_given_up_events_and_retries_them(operator, settings):
    event = _given_up(settings)
    delivered = OutboxEvent.objects.create(event_type="x", payload={}, attempts=1)
    OutboxEvent.objects.filter(pk=delivered.pk).update(delivered_at=timezone.now())
    page = operator.get(reverse("admin:payments_outboxevent_changelist") + "?state=given_up")
    assert list(page.context["cl"].result_list) == [event]
    assert "KeyError" in page.content.decode()

    assert _retry(operator, event.pk).status_code == 302
    event.refresh_from_db()
    assert (event.attempts, event.delivered_at) == (0, None)
    assert event.next_attempt_at <= timezone.now()  # due at once
    assert event.last_error  # what went wrong last stays readable
    assert _retry(operator, delivered.pk).status_code == 302
    assert OutboxEvent.objects.get(pk=delivered.pk).attempts == 1  # delivered: left alone


def test_staff_who_may_only_view_outbox_events_cannot_retry(django_user_model, settings):
    event = _given_up(settings)
    viewer = _staff(django_user_model, "view_outboxevent")
    page = viewer.get(reverse("admin:payments_outboxevent_changelist"))
    assert page.status_code == 200
    assert "retry_now" not in page.content.decode()
    assert _retry(viewer, event.pk).status_code == 403
    assert OutboxEvent.objects.get(pk=event.pk).attempts == settings.OUTBOX_MAX_ATTEMPTS
    clerk = _staff(django_user_model, "view_outboxevent", "change_outboxevent", username="ops")
    assert _retry(clerk, event.pk).status_code == 302
    assert OutboxEvent.objects.get(pk=event.pk).attempts == 0
