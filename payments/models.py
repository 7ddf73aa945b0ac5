"""Money tables: wallets, the balance ledger, top-ups, payments, idempotency keys and the event
outbox."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from booking.models import Reservation


class Wallet(models.Model):
    # db_index=False: uk_wallet_user is the index for every lookup by user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # Changed only by conditional UPDATEs with F() (see payments.services), each with a ledger row.
    balance = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # One wallet per user; serves every WHERE user_id = ? on this table.
            models.UniqueConstraint(fields=["user"], name="uk_wallet_user"),
            # The last line against overdraft: a debit that would go below zero fails here even if
            # a code path forgot its own check.
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="ck_wallet_balance_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Wallet of user {self.user_id}: {self.balance}"


class LedgerKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    PAYMENT = "payment", "Payment"
    REFUND = "refund", "Refund"
    ADJUSTMENT = "adjustment", "Adjustment"


class TopUpStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CONFIRMED = "confirmed", "Confirmed"
    FAILED = "failed", "Failed"


class TopUp(models.Model):
    """Money a user pays in through a gateway; the wallet is credited once the gateway confirms.

    Changes state only through conditional UPDATEs from pending (payments.services), so a replayed
    or concurrent confirmation finds nothing left to confirm.
    """

    # db_index=False: ix_top_up_user_created serves the lookups by user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    amount = models.BigIntegerField()
    status = models.CharField(
        max_length=12, choices=TopUpStatus.choices, default=TopUpStatus.PENDING
    )
    # The gateway (payments.gateways) and its id for the payment, set in the top-up's creating
    # transaction once the gateway started the payment.
    gateway = models.CharField(max_length=32)
    gateway_payment_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # A gateway's payment confirms one top-up; serves the callback's lookup
            # (WHERE gateway = ? AND gateway_payment_id = ?).
            models.UniqueConstraint(
                fields=["gateway", "gateway_payment_id"],
                condition=~Q(gateway_payment_id=""),
                name="uk_top_up_gateway_payment",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="ck_top_up_amount"),
            models.CheckConstraint(
                condition=(Q(status=TopUpStatus.CONFIRMED) & Q(confirmed_at__isnull=False))
                | (~Q(status=TopUpStatus.CONFIRMED) & Q(confirmed_at__isnull=True)),
                name="ck_top_up_confirmed_at",
            ),
        ]
        indexes = [
            # Serves the daily limit (WHERE user_id = ? AND created_at >= ? AND status IN ...)
            # and a user's top-ups in the console (WHERE user_id = ? ORDER BY created_at DESC).
            models.Index(fields=["user", "created_at"], name="ix_top_up_user_created"),
        ]

    def __str__(self) -> str:
        return f"Top-up {self.pk}: {self.amount} via {self.gateway} ({self.status})"


class Payment(models.Model):
    # db_index=False: uk_payment_reservation is the index for lookups by reservation.
    reservation = models.ForeignKey(
        Reservation, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    amount = models.BigIntegerField()
    paid_at = models.DateTimeField()

    class Meta:
        ordering = ["-paid_at", "-id"]
        constraints = [
            # A reservation is paid once, even if two payments got past every other check.
            models.UniqueConstraint(fields=["reservation"], name="uk_payment_reservation"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="ck_payment_amount"),
        ]
        indexes = [
            # Serves "a user's payments" (WHERE user_id = ? ORDER BY paid_at DESC) in the console.
            models.Index(fields=["user", "paid_at"], name="ix_payment_user_paid"),
        ]

    def __str__(self) -> str:
        return f"Payment {self.pk}: {self.amount} for reservation {self.reservation_id}"


class LedgerEntry(models.Model):
    """One balance change. The wallet's balance always equals the sum of its entries' amounts."""

    # db_index=False: ix_ledger_wallet serves the lookups by wallet.
    wallet = models.ForeignKey(
        Wallet, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    kind = models.CharField(max_length=12, choices=LedgerKind.choices)
    # Signed: charges and refunds add, payments subtract.
    amount = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    # Payments are few per user and this is looked up only from the payment's side.
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    # The confirmed top-up a charge credits: money comes in only through a gateway's payment.
    top_up = models.ForeignKey(
        TopUp, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="ck_ledger_balance_after_non_negative"
            ),
            # A top-up credits once, however often its gateway confirms it; serves the lookup of
            # a top-up's credit (WHERE top_up_id = ?).
            models.UniqueConstraint(
                fields=["top_up"], condition=Q(top_up__isnull=False), name="uk_ledger_top_up"
            ),
            models.CheckConstraint(
                condition=(Q(kind=LedgerKind.CHARGE) & Q(top_up__isnull=False))
                | (~Q(kind=LedgerKind.CHARGE) & Q(top_up__isnull=True)),
                name="ck_ledger_charge_top_up",
            ),
            models.CheckConstraint(
                condition=(~Q(kind=LedgerKind.CHARGE) | Q(amount__gt=0))
                & (~Q(kind=LedgerKind.PAYMENT) | Q(amount__lte=0)),
                name="ck_ledger_amount_sign",
            ),
        ]
        indexes = [
            # Serves a wallet's statement (WHERE wallet_id = ? ORDER BY id DESC) and the audit
            # sum (SELECT SUM(amount) ... WHERE wallet_id = ?).
            models.Index(fields=["wallet", "id"], name="ix_ledger_wallet"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+} -> {self.balance_after}"


class IdempotencyKey(models.Model):
    """The first successful answer to a request sent with an Idempotency-Key header.

    The row is inserted first in the same transaction as the work it guards, so a second request
    with the same key waits on uk_idempotency_user_scope_key until the first commits, then
    replays its answer; if the first fails, its row vanishes with the rollback.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    scope = models.CharField(max_length=32)
    key = models.CharField(max_length=255)
    # sha256 of the canonical request body: the same key with another body is refused.
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The JSON text as first sent: jsonb would reorder the keys and the replay must match exactly.
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Serves the key lookup (WHERE user_id = ? AND scope = ? AND key = ?) and makes two
            # requests with one key queue up behind each other.
            models.UniqueConstraint(
                fields=["user", "scope", "key"], name="uk_idempotency_user_scope_key"
            ),
        ]
        indexes = [
            # Serves purging old keys (WHERE created_at < ?).
            models.Index(fields=["created_at"], name="ix_idempotency_created"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key} of user {self.user_id}"


class OutboxEvent(models.Model):
    """An event written in the transaction that caused it, relayed to its consumer afterwards."""

    PAYMENT_COMPLETED = "payment_completed"
    PAYMENT_REFUNDED = "payment_refunded"

    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # When the relay may try the event next: from its creation (by the database's clock, which
    # the relay compares with), after a failure the end of its back-off, and null once it failed
    # OUTBOX_MAX_ATTEMPTS times and waits for an operator.
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_default=Now())

    class Meta:
        ordering = ["id"]
        indexes = [
            # Serves the relay (WHERE delivered_at IS NULL AND next_attempt_at <= now ORDER BY
            # next_attempt_at, id): partial, so it holds only undelivered events, and its range
            # scan never reads the events backing off or waiting for an operator.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="ix_outbox_due",
                condition=Q(delivered_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.pk}"
