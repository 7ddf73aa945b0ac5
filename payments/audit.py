"""Read-only audit of the sale's invariants, run after load tests and by operators at any time."""

from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Coalesce

from booking.models import (
    ACTIVE_RESERVATION_STATUSES,
    Reservation,
    ReservationStatus,
    Seat,
    SeatStatus,
)
from payments.models import LedgerEntry, LedgerKind, Payment, TopUp, TopUpStatus, Wallet


def invariants_audit(*, sample: int = 5) -> dict[str, dict]:
    """Each invariant with how many rows break it and a few of their ids (0 everywhere = clean)."""
    checks: dict[str, object] = {}

    checks["seats with two held-or-paid reservations"] = (
        Reservation.objects.filter(status__in=ACTIVE_RESERVATION_STATUSES)
        .values("seat_id")
        .annotate(owners=Count("id"))
        .filter(owners__gt=1)
        .values_list("seat_id", flat=True)
    )
    checks["wallets whose balance differs from their ledger sum"] = (
        Wallet.objects.annotate(ledger=Coalesce(Sum("entries__amount"), 0))
        .exclude(balance=F("ledger"))
        .values_list("id", flat=True)
    )
    checks["wallets with a negative balance"] = Wallet.objects.filter(balance__lt=0).values_list(
        "id", flat=True
    )
    paid_for_seat = Reservation.objects.filter(
        seat_id=OuterRef("pk"), status=ReservationStatus.PAID
    )
    checks["sold seats without a paid reservation"] = (
        Seat.objects.filter(status=SeatStatus.SOLD)
        .exclude(Exists(paid_for_seat))
        .values_list("id", flat=True)
    )
    checks["paid reservations whose seat is not sold"] = (
        Reservation.objects.filter(status=ReservationStatus.PAID)
        .exclude(seat__status=SeatStatus.SOLD)
        .values_list("id", flat=True)
    )
    payment_of = Payment.objects.filter(reservation_id=OuterRef("pk"))
    checks["paid reservations without a payment"] = (
        Reservation.objects.filter(status=ReservationStatus.PAID)
        .exclude(Exists(payment_of))
        .values_list("id", flat=True)
    )
    ledger_of = LedgerEntry.objects.filter(payment_id=OuterRef("pk"), kind=LedgerKind.PAYMENT)
    checks["payments without a ledger debit"] = Payment.objects.exclude(
        Exists(ledger_of)
    ).values_list("id", flat=True)
    refunds = LedgerEntry.objects.filter(kind=LedgerKind.REFUND)
    # A refund pays back what was paid, or less (a buyer's cancellation keeps its fee).
    checks["refunds of more than their payment, or of none"] = refunds.filter(
        Q(payment__isnull=True) | Q(amount__lt=0) | Q(amount__gt=F("payment__amount"))
    ).values_list("id", flat=True)
    checks["payments refunded more than once"] = (
        refunds.filter(payment__isnull=False)
        .values("payment_id")
        .annotate(times=Count("id"))
        .filter(times__gt=1)
        .values_list("payment_id", flat=True)
    )
    checks["refunded payments whose reservation is still paid"] = refunds.filter(
        payment__reservation__status=ReservationStatus.PAID
    ).values_list("payment_id", flat=True)
    credit_of = LedgerEntry.objects.filter(top_up_id=OuterRef("pk"))
    checks["confirmed top-ups without their credit"] = (
        TopUp.objects.filter(status=TopUpStatus.CONFIRMED)
        .exclude(Exists(credit_of))
        .values_list("id", flat=True)
    )
    checks["credits of a top-up not confirmed"] = (
        LedgerEntry.objects.filter(top_up__isnull=False)
        .exclude(top_up__status=TopUpStatus.CONFIRMED)
        .values_list("id", flat=True)
    )

    report = {}
    for name, queryset in checks.items():
        ids = list(queryset.order_by()[: sample + 1]) if sample else []
        count = queryset.order_by().count() if len(ids) > sample else len(ids)
        report[name] = {"count": count, "examples": ids[:sample]}
    report["totals"] = {
        "count": 0,
        "examples": [],
        **Reservation.objects.aggregate(
            paid=Count("id", filter=Q(status=ReservationStatus.PAID)),
            held=Count("id", filter=Q(status=ReservationStatus.HELD)),
        ),
        "payments": Payment.objects.count(),
        "wallets": Wallet.objects.count(),
    }
    return report
