"""The invariant audit: clean after real sales, and it notices each kind of damage."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from django.utils import timezone

from booking import services as booking_services
from booking.models import ConcertSchedule, Reservation, Seat, SeatStatus
from booking.tests.factories import SeatFactory
from payments import services
from payments.audit import invariants_audit
from payments.models import LedgerEntry, LedgerKind, TopUp, TopUpStatus, Wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def sale(user):
    services.wallet_charge(user=user, amount=500_000)
    held = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=80_000).id)
    services.payment_create(user=user, reservation_id=held["reservation_id"])
    booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=80_000).id)
    return held


def _broken(report) -> dict[str, int]:
    return {name: row["count"] for name, row in report.items() if name != "totals" and row["count"]}


def test_clean_after_real_sales(sale, capsys):
    report = invariants_audit()
    assert _broken(report) == {}
    assert report["totals"]["paid"] == 1 and report["totals"]["held"] == 1
    call_command("audit")
    assert "audit clean" in capsys.readouterr().out


def test_notices_a_balance_changed_outside_the_ledger(sale, user):
    Wallet.objects.filter(user=user).update(balance=1)  # no ledger row: the bug it must catch
    assert _broken(invariants_audit()) == {"wallets whose balance differs from their ledger sum": 1}
    with pytest.raises(CommandError):
        call_command("audit")


def test_notices_a_sold_seat_nobody_paid_for(sale):
    seat = SeatFactory()
    Seat.objects.filter(pk=seat.pk).update(status=SeatStatus.SOLD)
    Reservation.objects.filter(pk=sale["reservation_id"]).update(status="expired")
    broken = _broken(invariants_audit())
    assert broken["sold seats without a paid reservation"] == 2


def test_notices_a_credit_whose_top_up_is_not_confirmed(sale):
    TopUp.objects.update(status=TopUpStatus.FAILED, confirmed_at=None)
    assert _broken(invariants_audit()) == {"credits of a top-up not confirmed": 1}


def test_notices_a_confirmed_top_up_never_credited(sale, user):
    TopUp.objects.create(
        user=user,
        amount=5,
        gateway="deferred",
        gateway_payment_id="p1",
        status=TopUpStatus.CONFIRMED,
        confirmed_at=timezone.now(),
    )
    assert _broken(invariants_audit()) == {"confirmed top-ups without their credit": 1}


def _refunded(sale, user) -> LedgerEntry:
    """The sale's ticket cancelled by its buyer; its refund's ledger row."""
    ConcertSchedule.objects.update(starts_at=timezone.now() + timedelta(days=30))
    services.ticket_cancel(user=user, reservation_id=sale["reservation_id"])
    return LedgerEntry.objects.get(kind=LedgerKind.REFUND)


def test_clean_after_a_cancellation_that_kept_a_fee(sale, user, settings):
    settings.CANCEL_FEE_PERCENT = 10
    refund = _refunded(sale, user)
    assert refund.amount == 72_000
    assert _broken(invariants_audit()) == {}


def test_notices_a_refund_of_more_than_was_paid(sale, user):
    refund = _refunded(sale, user)
    LedgerEntry.objects.filter(pk=refund.pk).update(amount=80_001)
    Wallet.objects.filter(user=user).update(balance=F("balance") + 1)
    assert _broken(invariants_audit()) == {"refunds of more than their payment, or of none": 1}


def test_notices_a_payment_refunded_twice(sale, user):
    refund = _refunded(sale, user)
    refund.pk = None
    refund.save()  # the double refund a missing lock would write
    Wallet.objects.filter(user=user).update(balance=F("balance") + refund.amount)
    assert _broken(invariants_audit()) == {"payments refunded more than once": 1}


def test_notices_a_refund_whose_ticket_is_still_paid(sale, user):
    _refunded(sale, user)
    reservation = Reservation.objects.get(pk=sale["reservation_id"])
    Reservation.objects.filter(pk=reservation.pk).update(status="paid")
    Seat.objects.filter(pk=reservation.seat_id).update(status=SeatStatus.SOLD)
    assert _broken(invariants_audit()) == {"refunded payments whose reservation is still paid": 1}
