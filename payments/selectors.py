"""Money reads."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from booking.models import CheckIn, ReservationStatus
from booking.selectors import ticket_cancel_deadline
from payments.models import (
    IdempotencyKey,
    LedgerEntry,
    LedgerKind,
    OutboxEvent,
    Payment,
    TopUp,
    TopUpStatus,
    Wallet,
)


def wallet_balance(*, user_id: int) -> int:
    """The user's balance; a user who never topped up has no wallet row and a balance of 0."""
    return Wallet.objects.filter(user_id=user_id).values_list("balance", flat=True).first() or 0


def refund_fee(amount: int, *, percent: int) -> int:
    """The fee kept from refunding `amount`: `percent` of it in whole units, rounded down in the
    buyer's favour, and never more than was paid."""
    return amount * min(max(percent, 0), 100) // 100


def utc_day_start(now: datetime) -> datetime:
    """Midnight UTC starting the day `now` is in: daily limits count from here."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def top_up_total_today(*, user_id: int, now: datetime) -> int:
    """What the user topped up since midnight UTC, pending and confirmed (failed ones paid
    nothing)."""
    return TopUp.objects.filter(
        user_id=user_id,
        created_at__gte=utc_day_start(now),
        status__in=[TopUpStatus.PENDING, TopUpStatus.CONFIRMED],
    ).aggregate(total=Coalesce(Sum("amount"), 0))["total"]


def request_fingerprint(request: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of an idempotent request: the same key with another body is
    told apart by it."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_answer_stored(*, user_id: int, scope: str, key: str, request: Any) -> bool:
    """Whether the user's `key` in `scope` holds an answer to this very request (one indexed
    lookup on uk_idempotency_user_scope_key)."""
    return IdempotencyKey.objects.filter(
        user_id=user_id,
        scope=scope,
        key=key,
        fingerprint=request_fingerprint(request),
        response_status__isnull=False,
    ).exists()


def payment_counts() -> dict[str, int]:
    """Payments and refunds all time, and the outbox's undelivered events, for the metrics. The
    outbox counts read only the partial index ix_outbox_due (undelivered events)."""
    outbox = OutboxEvent.objects.filter(delivered_at__isnull=True).aggregate(
        outbox_backlog=Count("pk"),
        outbox_given_up=Count("pk", filter=Q(next_attempt_at__isnull=True)),
    )
    return {
        "payments": Payment.objects.count(),
        "refunds": LedgerEntry.objects.filter(kind=LedgerKind.REFUND).count(),
        **outbox,
    }


@dataclass(frozen=True)
class CancelTerms:
    """What cancelling a paid ticket would do, as its page shows it."""

    deadline: datetime
    checked_in: bool
    paid: int
    fee: int
    refund: int
    # Whether its buyer may cancel it now: before the deadline and not checked in.
    open: bool


def ticket_cancel_terms(*, reservation: dict, now: datetime | None = None) -> CancelTerms | None:
    """The cancel terms of a reservation as booking.selectors.reservation_list reads it; None
    unless it is a paid ticket. The service (payments.services.ticket_cancel) decides anew
    under its locks: this is what the page offers. One query."""
    if reservation["status_now"] != ReservationStatus.PAID:
        return None
    checked_in = CheckIn.objects.filter(reservation_id=OuterRef("reservation_id"))
    payment = (
        Payment.objects.filter(reservation_id=reservation["reservation_id"])
        .values("amount", checked_in=Exists(checked_in))
        .first()
    )
    if payment is None:
        return None
    deadline = ticket_cancel_deadline(reservation["starts_at"])
    fee = refund_fee(payment["amount"], percent=settings.CANCEL_FEE_PERCENT)
    return CancelTerms(
        deadline=deadline,
        checked_in=payment["checked_in"],
        paid=payment["amount"],
        fee=fee,
        refund=payment["amount"] - fee,
        open=(now or timezone.now()) < deadline and not payment["checked_in"],
    )
