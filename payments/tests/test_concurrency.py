"""Money under real contention on PostgreSQL: charged once, credited once, nothing lost, never
below zero, never over a limit.

Controls run the naive read-modify-write versions on the same threads and show the races.
"""

import random
import threading
import time

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from rest_framework.test import APIClient

from booking import services as booking_services
from booking.errors import AlreadyPaid, HoldExpired, HoldLimitReached, SeatUnavailable
from booking.models import Reservation, ReservationStatus, Seat, SeatStatus
from booking.tests.factories import SeatFactory, UserFactory
from booking.tests.parallel import Failed, run_parallel
from payments import services
from payments.errors import InsufficientBalance, TopUpLimitReached
from payments.models import LedgerEntry, LedgerKind, Payment, TopUp, TopUpStatus, Wallet
from payments.selectors import top_up_total_today, wallet_balance
from payments.tests.conftest import (
    GATEWAY_SECRET,
    callback_body,
    fund,
    ledger_sum,
    queue_token_active,
    signed,
)
from queueing.testing import admit

pytestmark = pytest.mark.django_db(transaction=True)

RACE_WINDOW_SECONDS = 0.05


def test_control_read_modify_write_loses_top_ups():
    user = UserFactory()
    fund(user, 1)

    def naive_charge(amount: int) -> None:
        with transaction.atomic():
            wallet = Wallet.objects.get(user=user)
            time.sleep(RACE_WINDOW_SECONDS)
            wallet.balance += amount
            wallet.save(update_fields=["balance"])

    run_parallel([lambda a=a: naive_charge(a) for a in range(1, 33)])
    assert Wallet.objects.get(user=user).balance < 1 + sum(range(1, 33))


def test_100_parallel_charges_add_up_exactly():
    user = UserFactory()
    amounts = list(range(1, 101))
    results = run_parallel(
        [lambda a=a: services.wallet_charge(user=user, amount=a) for a in amounts]
    )
    assert not [r for r in results if isinstance(r, Failed)]
    assert Wallet.objects.count() == 1  # created once, on demand, by whichever came first
    balance = Wallet.objects.get(user=user).balance
    assert balance == sum(amounts) == 5050
    assert ledger_sum(user) == balance
    # Every answer saw its own change: the balances reported are 100 distinct running totals.
    assert len({r.body["balance"] for r in results}) == 100
    assert max(r.body["balance"] for r in results) == 5050


def test_100_parallel_charges_over_http_with_one_key_charge_once(user):
    clients = []
    for _ in range(100):
        client = APIClient()
        client.force_authenticate(user)
        client.credentials(HTTP_IDEMPOTENCY_KEY="top-up-1")
        clients.append(client)

    def charge(client: APIClient):
        response = client.post("/api/users/me/balance/charge", {"amount": 700}, format="json")
        return response.status_code, response.content

    results = run_parallel([lambda c=c: charge(c) for c in clients])
    assert set(results) == {(200, b'{"balance":700}')}
    assert Wallet.objects.get(user=user).balance == 700
    assert LedgerEntry.objects.count() == 1


def naive_pay(*, user, reservation_id: int) -> bool:
    """Read the hold, then debit and mark it paid, without locking the reservation."""
    with transaction.atomic():
        reservation = Reservation.objects.get(pk=reservation_id)
        if reservation.status != ReservationStatus.HELD:
            return False
        time.sleep(RACE_WINDOW_SECONDS)
        services._wallet_add(user_id=user.pk, delta=-reservation.price, now=reservation.created_at)
        Reservation.objects.filter(pk=reservation_id).update(
            status=ReservationStatus.PAID, paid_at=reservation.created_at
        )
        return True


def test_a_balance_that_falls_during_a_payment_undoes_the_sale(user):
    """The balance is checked before the seat is sold, but an operator's debit committed while
    the payment waits for the wallet's lock leaves too little: the sale is undone, nothing paid."""
    fund(user, 100_000)
    operator = UserFactory()
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=80_000).id)
    debited, waiting = threading.Event(), threading.Event()

    def debit() -> int:
        with transaction.atomic():
            balance = services.wallet_adjust(operator=operator, user_id=user.pk, amount=-50_000)
            debited.set()
            waiting.wait(10)  # commit only once the payment waits for the wallet row
            return balance.body["balance"]

    def pay():
        debited.wait(10)
        return services.payment_create(user=user, reservation_id=hold["reservation_id"])

    def watch() -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT COUNT(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                if cursor.fetchone()[0]:
                    waiting.set()
                    return True
            time.sleep(0.01)
        waiting.set()
        return False

    balance, paid, payment_waited = run_parallel([debit, pay, watch], threads=3)
    assert balance == 50_000 and payment_waited
    assert isinstance(paid, Failed) and isinstance(paid.exc, InsufficientBalance)
    assert Reservation.objects.get(pk=hold["reservation_id"]).status == ReservationStatus.HELD
    assert Seat.objects.get(pk=hold["seat_id"]).status == SeatStatus.HELD
    assert not Payment.objects.exists()
    assert wallet_balance(user_id=user.pk) == ledger_sum(user) == 50_000


def test_control_paying_without_the_lock_charges_many_times():
    user = UserFactory()
    fund(user, 9_000_000)
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=1000).id)
    results = run_parallel(
        [lambda: naive_pay(user=user, reservation_id=hold["reservation_id"])] * 32
    )
    assert results.count(True) > 1
    assert Wallet.objects.get(user=user).balance < 9_000_000 - 1000


@pytest.mark.parametrize("key", [None, "pay-once"])
def test_50_parallel_payments_of_one_hold_charge_once(key):
    user = UserFactory()
    fund(user, 1_000_000)
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=80_000).id)

    results = run_parallel(
        [
            lambda: services.payment_create(
                user=user, reservation_id=hold["reservation_id"], idempotency_key=key
            )
        ]
        * 50
    )

    outcomes = [r for r in results if isinstance(r, services.Outcome)]
    failures = [r for r in results if isinstance(r, Failed)]
    if key is None:
        assert len(outcomes) == 1
        assert len(failures) == 49
        assert all(isinstance(f.exc, AlreadyPaid) for f in failures)
    else:
        # Everyone gets the same answer; exactly one did the work.
        assert len(outcomes) == 50
        assert [o.replayed for o in outcomes].count(False) == 1
        assert {(o.status, tuple(sorted(o.body.items()))) for o in outcomes} == {
            (201, tuple(sorted(outcomes[0].body.items())))
        }
    assert Payment.objects.count() == 1
    assert Wallet.objects.get(user=user).balance == 920_000
    assert ledger_sum(user) == 920_000
    assert Seat.objects.get(pk=hold["seat_id"]).status == SeatStatus.SOLD


def test_50_parallel_payments_over_http_charge_once():
    user = UserFactory()
    fund(user, 1_000_000)
    hold = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=80_000).id)
    token = admit(user)
    clients = []
    for _ in range(50):
        client = APIClient()
        client.force_authenticate(user)
        client.credentials(HTTP_QUEUE_TOKEN=token, HTTP_IDEMPOTENCY_KEY="pay-once")
        clients.append(client)

    def pay(client: APIClient):
        response = client.post(
            "/api/reservation/payments", {"reservation_id": hold["reservation_id"]}, format="json"
        )
        return response.status_code, response.content

    results = run_parallel([lambda c=c: pay(c) for c in clients])

    assert not [r for r in results if isinstance(r, Failed)]
    # The payment and its byte-identical replays: once it commits it gives the queue slot back,
    # and the retries that come later pass the gate as retries of its stored answer.
    assert len(set(results)) == 1
    assert results[0][0] == 201
    assert Payment.objects.count() == 1
    assert Wallet.objects.get(user=user).balance == 920_000


def test_parallel_payments_give_the_slot_back_once_every_hold_is_paid(settings):
    settings.HOLD_LIMIT_PER_USER = 3
    users = UserFactory.create_batch(8)
    tokens, payable = {}, []
    for user in users:
        fund(user, 90_000)
        tokens[user.pk] = admit(user)
        for _ in range(3):
            seat = SeatFactory(price=30_000)
            hold = booking_services.reservation_hold(user=user, seat_id=seat.id)
            payable.append((user, hold["reservation_id"]))
    kept = payable.pop()  # the last buyer leaves one hold unpaid

    results = run_parallel(
        [lambda u=u, r=r: services.payment_create(user=u, reservation_id=r) for u, r in payable]
    )

    assert not [r for r in results if isinstance(r, Failed)]
    assert Payment.objects.count() == len(payable)
    # However the commits interleaved, each buyer's last payment found no hold left to pay.
    assert [queue_token_active(user, tokens[user.pk]) for user in users[:-1]] == [False] * 7
    assert queue_token_active(kept[0], tokens[kept[0].pk])


def test_holds_and_payments_across_many_seats_keep_every_invariant(settings):
    settings.HOLD_LIMIT_PER_USER = 3
    seats = SeatFactory.create_batch(12, price=30_000)
    users = UserFactory.create_batch(24)
    for n, user in enumerate(users):
        if n % 3:
            fund(user, 30_000 * (n % 3))  # some can pay for none, one or two seats
    rng = random.Random(4)
    wishes = {user.pk: rng.sample(seats, 4) for user in users}

    def buyer(user) -> list[str]:
        outcomes = []
        for seat in wishes[user.pk]:
            try:
                hold = booking_services.reservation_hold(user=user, seat_id=seat.id)
                services.payment_create(user=user, reservation_id=hold["reservation_id"])
                outcomes.append("paid")
            except (SeatUnavailable, HoldLimitReached, InsufficientBalance, HoldExpired) as exc:
                outcomes.append(exc.code)
        return outcomes

    results = run_parallel([lambda u=u: buyer(u) for u in users])
    assert not [r for r in results if isinstance(r, Failed)], results

    active = Reservation.objects.filter(status__in=[ReservationStatus.HELD, ReservationStatus.PAID])
    assert not active.values("seat_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    paid = Reservation.objects.filter(status=ReservationStatus.PAID)
    assert paid.count() == Payment.objects.count() == sum(r.count("paid") for r in results)
    assert set(paid.values_list("seat_id", flat=True)) == set(
        Seat.objects.filter(status=SeatStatus.SOLD).values_list("id", flat=True)
    )
    assert not Wallet.objects.filter(balance__lt=0).exists()
    funded = sum(30_000 * (n % 3) for n in range(len(users)))
    spent = Payment.objects.aggregate(total=Sum("amount"))["total"] or 0
    assert Wallet.objects.aggregate(total=Sum("balance"))["total"] == funded - spent
    for user in users:
        assert ledger_sum(user) == wallet_balance(user_id=user.pk)


# --- Top-ups: one credit per gateway payment, and never over the daily limit ------------------


def _deferred_top_up(settings, user, amount: int) -> str:
    settings.PAYMENT_GATEWAY, settings.PAYMENT_GATEWAY_SECRET = "deferred", GATEWAY_SECRET
    return services.wallet_charge(user=user, amount=amount).body["payment_id"]


def test_control_confirming_by_read_then_write_lets_many_callbacks_through(settings):
    """Without the conditional UPDATE, many parallel callbacks each see the top-up pending and
    go on to credit it; only uk_ledger_top_up stops all but one."""
    user = UserFactory()
    payment_id = _deferred_top_up(settings, user, 700)

    def naive_confirm() -> str:
        with transaction.atomic():
            top_up = TopUp.objects.get(gateway="deferred", gateway_payment_id=payment_id)
            if top_up.status != TopUpStatus.PENDING:
                return "already"
            time.sleep(RACE_WINDOW_SECONDS)
            TopUp.objects.filter(pk=top_up.pk).update(
                status=TopUpStatus.CONFIRMED, confirmed_at=timezone.now()
            )
            wallet_id, balance = services._wallet_add(
                user_id=user.pk, delta=700, now=top_up.created_at
            )
            LedgerEntry.objects.create(
                wallet_id=wallet_id,
                kind=LedgerKind.CHARGE,
                amount=700,
                balance_after=balance,
                top_up_id=top_up.pk,
            )
            return "credited"

    results = run_parallel([naive_confirm] * 32)
    refused = [r for r in results if isinstance(r, Failed)]
    assert len(refused) > 1 and all(isinstance(r.exc, IntegrityError) for r in refused)
    assert "uk_ledger_top_up" in str(refused[0].exc)
    assert results.count("credited") == 1
    assert wallet_balance(user_id=user.pk) == ledger_sum(user) == 700


def test_50_parallel_callbacks_of_one_payment_credit_once(settings):
    user = UserFactory()
    payment_id = _deferred_top_up(settings, user, 700)
    body = callback_body(payment_id, 700)

    def callback():
        response = APIClient().post(
            "/api/payments/callback/deferred",
            body,
            content_type="application/json",
            HTTP_GATEWAY_SIGNATURE=signed(body),
        )
        return response.status_code, response.json()["status"]

    results = run_parallel([callback] * 50)
    assert set(results) == {(200, "confirmed")}
    assert LedgerEntry.objects.filter(kind=LedgerKind.CHARGE).count() == 1
    assert wallet_balance(user_id=user.pk) == ledger_sum(user) == 700


def test_control_checking_the_limit_without_the_user_lock_goes_over_it(settings):
    settings.TOPUP_DAILY_LIMIT = 1000
    user = UserFactory()

    def naive_top_up() -> bool:
        with transaction.atomic():
            now = timezone.now()
            if top_up_total_today(user_id=user.pk, now=now) + 100 > settings.TOPUP_DAILY_LIMIT:
                return False
            time.sleep(RACE_WINDOW_SECONDS)
            TopUp.objects.create(user=user, amount=100, gateway="sandbox", created_at=now)
            return True

    results = run_parallel([naive_top_up] * 32)
    assert results.count(True) * 100 > 1000


def test_parallel_top_ups_never_sum_over_the_daily_limit(settings):
    settings.TOPUP_DAILY_LIMIT = 1000
    user = UserFactory()
    results = run_parallel([lambda: services.wallet_charge(user=user, amount=100)] * 50)
    refused = [r for r in results if isinstance(r, Failed)]
    assert len(refused) == 40 and all(isinstance(r.exc, TopUpLimitReached) for r in refused)
    assert TopUp.objects.filter(user=user).aggregate(total=Sum("amount"))["total"] == 1000
    assert wallet_balance(user_id=user.pk) == ledger_sum(user) == 1000
