"""seed_demo gives demo buyers a balance through the ledger, and --reset keeps money consistent."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum

from booking import services as booking_services
from booking.models import Reservation, Seat
from payments import services
from payments.models import LedgerEntry, LedgerKind, Payment, Wallet

pytestmark = pytest.mark.django_db

SMALL = {"concerts": 2, "dates": 1, "seats": 5, "users": 3}


def balances_match_ledger() -> bool:
    ledger = dict(
        LedgerEntry.objects.values("wallet_id")
        .annotate(total=Sum("amount"))
        .values_list("wallet_id", "total")
    )
    return ledger == dict(Wallet.objects.values_list("id", "balance"))


def test_seed_gives_each_demo_user_a_balance(django_user_model):
    call_command("seed_demo", balance=500_000, **SMALL, stdout=StringIO())
    assert sorted(Wallet.objects.values_list("user__username", "balance")) == [
        ("user1", 500_000),
        ("user2", 500_000),
        ("user3", 500_000),
    ]
    assert set(LedgerEntry.objects.values_list("kind", flat=True)) == {LedgerKind.ADJUSTMENT}
    assert balances_match_ledger()

    # Seeding again tops a spent balance back up, again through the ledger.
    buyer = django_user_model.objects.get(username="user1")
    hold = booking_services.reservation_hold(user=buyer, seat_id=Seat.objects.first().id)
    services.payment_create(user=buyer, reservation_id=hold["reservation_id"])
    call_command("seed_demo", balance=500_000, **SMALL, stdout=StringIO())
    assert Wallet.objects.get(user=buyer).balance == 500_000
    assert balances_match_ledger()


@pytest.mark.django_db(transaction=True)  # TRUNCATE refuses rows inserted in its transaction
def test_reset_leaves_no_money_without_its_ledger(django_user_model):
    call_command("seed_demo", balance=500_000, **SMALL, stdout=StringIO())
    buyer = django_user_model.objects.get(username="user2")
    hold = booking_services.reservation_hold(user=buyer, seat_id=Seat.objects.first().id)
    services.payment_create(user=buyer, reservation_id=hold["reservation_id"])

    call_command("seed_demo", balance=7_000, reset=True, **SMALL, stdout=StringIO())
    assert not Reservation.objects.exists()
    assert not Payment.objects.exists()
    assert set(Wallet.objects.values_list("balance", flat=True)) == {7_000}
    assert LedgerEntry.objects.count() == 3
    assert balances_match_ledger()


def test_balance_zero_leaves_balances_alone():
    call_command("seed_demo", balance=0, **SMALL, stdout=StringIO())
    assert not Wallet.objects.exists()
