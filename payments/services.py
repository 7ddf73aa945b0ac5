"""Money writes: top-ups through the payment gateway, seat payments, idempotent replays and the
event outbox relay."""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.mime.image import MIMEImage
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.services import user_lock_active
from booking import selectors as booking_selectors
from booking import services as booking_services
from booking import tickets
from booking.models import ReservationStatus
from concertbooking.api import api_datetime
from concertbooking.db import unique_violated
from payments import gateways
from payments.errors import (
    IdempotencyKeyReused,
    InsufficientBalance,
    InvalidAmount,
    InvalidIdempotencyKey,
    TopUpLimitReached,
    TopUpMismatch,
    TopUpNotFound,
)
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
from payments.selectors import (
    refund_fee,
    request_fingerprint,
    top_up_total_today,
    utc_day_start,
)
from queueing.errors import QueueTokenInvalid
from queueing.selectors import room_for_concert
from queueing.services import queue_release_user

logger = logging.getLogger(__name__)

SCOPE_CHARGE = "balance_charge"
SCOPE_PAYMENT = "payment_create"
SCOPE_CANCEL = "ticket_cancel"
# Who made a refund, as its outbox event tells the email.
REFUND_BY_OPERATOR = "operator"
REFUND_BY_BUYER = "buyer"
IDEMPOTENCY_KEY_MAX_LENGTH = 255


@dataclass(frozen=True)
class Outcome:
    """What a money endpoint answers: the body is final JSON, stored as-is for replays."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def amount_check(amount: object) -> int:
    """The amount if it is a whole number from 1 to below CHARGE_MAX_AMOUNT, else InvalidAmount."""
    # bool is an int subclass, and JSON true must not top up a balance by one.
    if type(amount) is not int or not 0 < amount < settings.CHARGE_MAX_AMOUNT:
        raise InvalidAmount(
            f"The amount must be a whole number from 1 to {settings.CHARGE_MAX_AMOUNT - 1}."
        )
    return amount


def idempotency_key_check(key: str | None) -> str | None:
    if key is None:
        return None
    if not 0 < len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH or not all(
        " " <= char <= "~" for char in key
    ):
        raise InvalidIdempotencyKey()
    return key


def _idempotent(
    *,
    user: AbstractBaseUser,
    scope: str,
    key: str | None,
    request: dict[str, Any],
    status: int,
    work: Callable[[], dict[str, Any] | Outcome],
    replay_only: bool = False,
) -> Outcome:
    """Run `work` in one transaction; with a key, at most once per (user, scope, key).

    `work` returns the answer's body (sent with `status`), or an Outcome when its status depends
    on the work. The key row goes in first, inside the same transaction as the work. A second
    request with the same key blocks on uk_idempotency_user_scope_key until the first one ends: if
    it committed, the insert fails and the stored answer is replayed; if it rolled back, the second
    one does the work. Failures are not stored (they change nothing), so a failed request may be
    retried with its key. `replay_only`: the request passed the queue gate only to be replayed
    (queueing.gate), so if no answer is stored after all it is the gate's refusal.
    """
    if key is None:
        with transaction.atomic():
            return _outcome(status, work())
    with transaction.atomic():
        fingerprint = request_fingerprint(request)
        while True:
            try:
                with transaction.atomic():
                    record = IdempotencyKey.objects.create(
                        user_id=user.pk, scope=scope, key=key, fingerprint=fingerprint
                    )
                break
            except IntegrityError as exc:
                if not unique_violated(
                    exc, model=IdempotencyKey, name="uk_idempotency_user_scope_key"
                ):
                    raise
                stored = (
                    IdempotencyKey.objects.filter(user_id=user.pk, scope=scope, key=key)
                    .values("fingerprint", "response_status", "response_body")
                    .first()
                )
                if stored is None:
                    # Purged (idempotency_keys_purge) since the insert failed: the key is new
                    # again. Once at most: a row written after the purge is too young for it.
                    continue
                if stored["fingerprint"] != fingerprint:
                    raise IdempotencyKeyReused() from exc
                return Outcome(
                    stored["response_status"], json.loads(stored["response_body"]), replayed=True
                )
        if replay_only:
            # Purged between the gate's look and this insert: there is nothing to replay.
            raise QueueTokenInvalid()
        outcome = _outcome(status, work())
        record.response_status = outcome.status
        record.response_body = json.dumps(outcome.body)
        record.save(update_fields=["response_status", "response_body"])
        return outcome


def _outcome(status: int, done: dict[str, Any] | Outcome) -> Outcome:
    return done if isinstance(done, Outcome) else Outcome(status, done)


def idempotency_keys_purge(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete keys first used more than IDEMPOTENCY_KEY_SECONDS ago; returns how many.

    In batches, each its own short transaction, so a large backlog never holds many row locks at
    once. A key being used right now is not old; a key deleted here is new again to its owner.
    """
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.IDEMPOTENCY_KEY_SECONDS)
    purged = 0
    while True:
        batch = list(
            IdempotencyKey.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not batch:
            return purged
        purged += IdempotencyKey.objects.filter(pk__in=batch).delete()[0]
        if len(batch) < batch_size:
            return purged


def _wallet_add(*, user_id: int, delta: int, now: datetime) -> tuple[int, int] | None:
    """Add `delta` to the user's balance; returns (wallet id, new balance), or None on overdraft.

    One conditional UPDATE with F(), so parallel changes never lose each other and a debit never
    takes the balance below zero. The row stays locked until commit, so the balance read back is
    the one this update produced. A credit to a missing wallet creates it first.
    """
    wallets = Wallet.objects.filter(user_id=user_id)
    guarded = wallets.filter(balance__gte=-delta)
    changes = {"balance": F("balance") + delta, "updated_at": now}
    if not guarded.update(**changes):
        if delta < 0:
            return None
        wallet_ensure(user_id=user_id)
        guarded.update(**changes)
    return wallets.values_list("pk", "balance").get()


def _payment_booked(
    *,
    payment: Payment,
    wallet_id: int,
    kind: str,
    amount: int,
    balance: int,
    event_type: str,
    now: datetime,
    event: dict[str, Any] | None = None,
) -> None:
    """A payment's balance change in the ledger and its event in the outbox (the caller's
    transaction); `event` is what the event's consumer needs beside the payment's id."""
    LedgerEntry.objects.create(
        wallet_id=wallet_id,
        kind=kind,
        amount=amount,
        balance_after=balance,
        payment=payment,
        created_at=now,
    )
    OutboxEvent.objects.create(
        event_type=event_type, payload={"payment_id": payment.pk, **(event or {})}, created_at=now
    )


def wallet_ensure(*, user_id: int) -> None:
    """Create the user's wallet if it is missing; parallel callers end up with one wallet."""
    # INSERT ... ON CONFLICT DO NOTHING: no error, no savepoint, whoever comes second waits and
    # then finds the row.
    Wallet.objects.bulk_create([Wallet(user_id=user_id)], ignore_conflicts=True)


def wallet_charge(
    *, user: AbstractBaseUser, amount: object, idempotency_key: str | None = None
) -> Outcome:
    """Top up the user's balance by `amount` through the payment gateway (PAYMENT_GATEWAY).

    A pending top-up is created under the user's lock, within TOPUP_DAILY_LIMIT, and the gateway
    starts its payment. A payment the gateway confirms at once (sandbox) is credited here by
    _top_up_credit, the step a callback's confirmation takes too, and answers 200 {"balance"};
    one confirmed later answers 202 with the pending top-up, and its callback credits the wallet.
    """
    amount = amount_check(amount)
    key = idempotency_key_check(idempotency_key)
    gateway = gateways.gateway_current()

    def work() -> Outcome:
        now = timezone.now()
        user_lock_active(user_id=user.pk)
        _top_up_limit_check(user_id=user.pk, amount=amount, now=now)
        top_up = TopUp(user_id=user.pk, amount=amount, gateway=gateway.name, created_at=now)
        started = gateway.start(top_up)
        top_up.gateway_payment_id = started.payment_id
        top_up.save(force_insert=True)
        if started.confirmed:
            balance = _top_up_credit(top_up_id=top_up.pk, user_id=user.pk, amount=amount, now=now)
            return Outcome(200, {"balance": balance})
        return Outcome(
            202,
            {
                "top_up_id": top_up.pk,
                "status": TopUpStatus.PENDING.value,
                "amount": amount,
                "gateway": gateway.name,
                "payment_id": started.payment_id,
                "redirect_url": started.redirect_url,
            },
        )

    return _idempotent(
        user=user, scope=SCOPE_CHARGE, key=key, request={"amount": amount}, status=200, work=work
    )


def _top_up_limit_check(*, user_id: int, amount: int, now: datetime) -> None:
    """TopUpLimitReached, with what is left today, unless `amount` fits in today's limit.

    The caller holds the user's row lock, so two top-ups of one user never both fit in the same
    remainder.
    """
    limit = settings.TOPUP_DAILY_LIMIT
    remaining = max(0, limit - top_up_total_today(user_id=user_id, now=now))
    if amount > remaining:
        tomorrow = utc_day_start(now) + timedelta(days=1)
        raise TopUpLimitReached(
            f"Top-ups are limited to {limit:,} a day; {remaining:,} is left today.",
            retry_after=int((tomorrow - now).total_seconds()) + 1,
            remaining=remaining,
        )


@dataclass(frozen=True)
class TopUpSettled:
    """A top-up after its gateway's word; `balance` is the wallet's when this call credited it."""

    top_up_id: int
    status: str
    balance: int | None = None


def top_up_confirm(*, gateway: str, payment_id: str, amount: int) -> TopUpSettled:
    """The gateway took `amount` for its payment `payment_id`: credit the top-up's wallet, once
    (_top_up_credit); a repeated confirmation answers as the first did."""
    top_ups = TopUp.objects.filter(gateway=gateway, gateway_payment_id=payment_id)
    top_up = top_ups.values("pk", "user_id", "amount").first()
    if top_up is None:
        raise TopUpNotFound()
    if top_up["amount"] != amount:
        raise TopUpMismatch("The callback's amount is not the top-up's.")
    with transaction.atomic():
        balance = _top_up_credit(
            top_up_id=top_up["pk"], user_id=top_up["user_id"], amount=amount, now=timezone.now()
        )
    if balance is not None:
        return TopUpSettled(top_up["pk"], TopUpStatus.CONFIRMED.value, balance)
    return _top_up_settled_as(top_up["pk"], TopUpStatus.CONFIRMED)


def _top_up_credit(*, top_up_id: int, user_id: int, amount: int, now: datetime) -> int | None:
    """Confirm a pending top-up and credit its wallet, in the caller's transaction; the new
    balance, or None when the top-up was not pending (another confirmation came first).

    One conditional UPDATE from pending to confirmed: of any number of confirmations, replayed or
    concurrent, one changes the row and credits the wallet; the others wait for it and find the
    top-up confirmed. uk_ledger_top_up holds the same line in the database.
    """
    if not TopUp.objects.filter(pk=top_up_id, status=TopUpStatus.PENDING).update(
        status=TopUpStatus.CONFIRMED, confirmed_at=now
    ):
        return None
    wallet_id, balance = _wallet_add(user_id=user_id, delta=amount, now=now)
    LedgerEntry.objects.create(
        wallet_id=wallet_id,
        kind=LedgerKind.CHARGE,
        amount=amount,
        balance_after=balance,
        top_up_id=top_up_id,
        created_at=now,
    )
    return balance


def top_up_fail(*, gateway: str, payment_id: str) -> TopUpSettled:
    """The gateway's payment `payment_id` failed: its pending top-up fails and credits nothing."""
    top_ups = TopUp.objects.filter(gateway=gateway, gateway_payment_id=payment_id)
    top_up_id = top_ups.values_list("pk", flat=True).first()
    if top_up_id is None:
        raise TopUpNotFound()
    if not top_ups.filter(status=TopUpStatus.PENDING).update(status=TopUpStatus.FAILED):
        return _top_up_settled_as(top_up_id, TopUpStatus.FAILED)
    return TopUpSettled(top_up_id, TopUpStatus.FAILED.value)


def _top_up_settled_as(top_up_id: int, status: TopUpStatus) -> TopUpSettled:
    """A repeated word from the gateway: the same outcome again is answered as before; the
    opposite one contradicts the top-up and is refused."""
    current = TopUp.objects.filter(pk=top_up_id).values_list("status", flat=True).get()
    if current != status:
        raise TopUpMismatch(f"This top-up is {current} already.")
    return TopUpSettled(top_up_id, current)


def top_up_callback(*, gateway: str, body: bytes, signature: str | None) -> TopUpSettled:
    """A gateway's signed word on one of its payments: confirm or fail the top-up it started.

    A callback that is not signed with PAYMENT_GATEWAY_SECRET is refused before its body is read.
    """
    callback = gateways.gateway_named(gateway).verify(body=body, signature=signature)
    if callback.paid:
        return top_up_confirm(
            gateway=gateway, payment_id=callback.payment_id, amount=callback.amount
        )
    return top_up_fail(gateway=gateway, payment_id=callback.payment_id)


# Set while a full relay is queued and has not started yet. A payment that commits meanwhile needs
# no task of its own: that relay clears the mark before it reads, so it finds the payment's event.
RELAY_QUEUED_KEY = "payments:outbox-relay-queued"


def _relay_enqueue() -> None:
    """Have a worker relay the outbox now, unless a relay already queued will find our event.

    The mark lives in the cache: if it is lost a payment publishes again; if the cache is away
    nothing is published and the beat relay delivers within OUTBOX_RELAY_INTERVAL_SECONDS.
    """
    # Imported here: payments.tasks imports this module.
    from payments.tasks import outbox_relay

    if cache.add(RELAY_QUEUED_KEY, 1, timeout=settings.OUTBOX_RELAY_INTERVAL_SECONDS):
        outbox_relay.delay()


def _queue_release_when_done(user_id: int, room: str) -> None:
    """Give the user's slot in `room` back unless a live hold of theirs still waits to be
    paid."""
    # Read after commit, so of payments racing for one user's last holds the later commit sees
    # them all paid and releases; releasing twice is harmless.
    if not booking_selectors.holds_keeping_slot(user_id=user_id, room=room).exists():
        queue_release_user(user_id=user_id, room=room)


def payment_reservation_ids(body: object) -> list[int]:
    """The reservations a payment request names (`reservation_id`, or `reservation_ids` for
    several), read from its raw JSON body for the queue gate's look ahead of the view; [] when
    the body names none properly (the view then refuses it)."""
    if not isinstance(body, dict) or len(body) != 1:
        return []
    named = body["reservation_ids"] if "reservation_ids" in body else [body.get("reservation_id")]
    if not isinstance(named, list) or not 0 < len(named) <= settings.HOLD_LIMIT_PER_USER:
        return []
    # bool is an int subclass; JSON true names no reservation.
    if not all(type(pk) is int and pk > 0 for pk in named) or len(set(named)) != len(named):
        return []
    return named


def payment_create(
    *,
    user: AbstractBaseUser,
    reservation_id: int | None = None,
    reservation_ids: list[int] | None = None,
    idempotency_key: str | None = None,
    queue_room: str | None = None,
    replay_only: bool = False,
) -> Outcome:
    """Pay for one's own held seat (`reservation_id`), or every held seat of a party
    (`reservation_ids`), from the balance, in one transaction: all are paid or none.

    The total is debited once; each seat still gets its Payment, its ledger row and its
    payment_completed event, so a seat can be refunded or cancelled on its own. The events are
    written in the transaction, so a lost relay enqueue loses nothing (the beat relay finds
    them). The buyer keeps their queue slot until their last live hold is paid, so paying one
    of several holds still passes the gate; a retry with the key of a stored answer passes it
    even after the slot is gone (`replay_only`: it may only replay). `queue_room` is the room
    whose place let the buyer in: the seats' concerts must be ones it admits to.
    """
    wanted = booking_services.party_ids(
        one=reservation_id, several=reservation_ids, action="paid", noun="reservation"
    )
    key = idempotency_key_check(idempotency_key)

    def work() -> dict[str, Any]:
        now = timezone.now()
        # Locks in the project's order: the user, the reservations (by pk, so two payments
        # naming the same ones queue up), the seats, the wallet.
        user_lock_active(user_id=user.pk)
        reservations = [
            booking_services.reservation_lock_payable(
                user_id=user.pk, reservation_id=pk, now=now, queue_room=queue_room
            )
            for pk in sorted(wanted)
        ]
        booking_services.reservations_confirm(reservations=reservations, now=now)
        total = sum(reservation.price for reservation in reservations)
        debited = _wallet_add(user_id=user.pk, delta=-total, now=now)
        if debited is None:
            raise InsufficientBalance()
        wallet_id, balance = debited
        # One debit of the total, written down seat by seat: each ledger row says the balance
        # as if the seats had been paid one after another, ending at the wallet's.
        running = balance + total
        paid = []
        for reservation in reservations:
            running -= reservation.price
            payment = Payment.objects.create(
                reservation_id=reservation.pk,
                user_id=user.pk,
                amount=reservation.price,
                paid_at=now,
            )
            _payment_booked(
                payment=payment,
                wallet_id=wallet_id,
                kind=LedgerKind.PAYMENT,
                amount=-reservation.price,
                balance=running,
                event_type=OutboxEvent.PAYMENT_COMPLETED,
                now=now,
            )
            paid.append(
                {
                    "payment_id": payment.pk,
                    "reservation_id": reservation.pk,
                    "amount": payment.amount,
                    "balance": running,
                    "status": ReservationStatus.PAID.value,
                    "paid_at": api_datetime(now),
                }
            )
        # The rooms whose slot paid holds may end. An offer is paid without a slot and keeps
        # none, so paying one leaves whatever place its buyer has alone.
        rooms = sorted(
            {
                queue_room or room_for_concert(reservation.concert_id).name
                for reservation in reservations
                if not reservation.is_offer
            }
        )

        # A named function, not a partial: Django logs a robust callback's failure by its
        # __qualname__.
        def release_slot() -> None:
            for room in rooms:
                _queue_release_when_done(user.pk, room)

        # robust=True: once the payment is committed, a queue or broker outage must not turn it
        # into an error; the slot times out by itself and the beat relay delivers the event.
        transaction.on_commit(release_slot, robust=True)
        transaction.on_commit(_relay_enqueue, robust=True)
        if reservation_ids is None:
            return paid[0]
        return {"payments": paid, "total": total, "balance": balance}

    # The request as its body came, so a retry of the same body finds the stored answer.
    request = (
        {"reservation_id": reservation_id}
        if reservation_ids is None
        else {"reservation_ids": list(reservation_ids)}
    )
    return _idempotent(
        user=user,
        scope=SCOPE_PAYMENT,
        key=key,
        request=request,
        status=201,
        work=work,
        replay_only=replay_only,
    )


def _payment_for_email(payload: dict[str, Any]) -> dict[str, Any] | None:
    """What an email about the event's payment shows; None if its buyer has no address."""
    payment = (
        Payment.objects.filter(pk=payload["payment_id"])
        .values(
            "amount",
            "paid_at",
            "reservation_id",
            email=F("user__email"),
            username=F("user__username"),
            seat_number=F("reservation__seat__number"),
            seat_row=F("reservation__seat__row"),
            starts_at=F("reservation__seat__schedule__starts_at"),
            title=F("reservation__seat__schedule__concert__title"),
            venue=F("reservation__seat__schedule__concert__venue"),
        )
        .first()
    )
    return payment if payment is not None and payment["email"] else None


# The Content-ID the HTML alternative's <img src="cid:..."> names the QR code's PNG by.
TICKET_QR_CID = "ticket-qr"


def _send_payment_email(
    payment: dict[str, Any], *, subject: str, opening: str, ticket: dict[str, Any] | None = None
) -> None:
    """`opening` (formatted with the amount), then the ticket. With `ticket` (a paid one, from
    booking.selectors.ticket_get) also its code, an HTML alternative showing its QR code inline
    and the ticket as a PDF attachment."""
    starts_at = timezone.localtime(payment["starts_at"])
    opening = opening.format(amount=payment["amount"])
    text = (
        f"Hello {payment['username']},\n\n"
        f"{opening}\n\n"
        f"{payment['title']} at {payment['venue']}\n"
        f"{starts_at:%A %d %B %Y, %H:%M}\n"
        f"Row {payment['seat_row']}, seat {payment['seat_number']}\n"
        f"Reservation {payment['reservation_id']}\n"
    )
    if ticket is not None:
        text += f"Ticket code {tickets.ticket_code_display(ticket['ticket_code'])}\n"
    message = EmailMultiAlternatives(
        subject=subject.format(title=payment["title"]),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[payment["email"]],
    )
    if ticket is not None:
        html = render_to_string(
            "payments/email/ticket.html",
            {
                "payment": payment,
                "opening": opening,
                "starts_at": starts_at,
                "ticket": ticket,
                "code_display": tickets.ticket_code_display(ticket["ticket_code"]),
                "qr_cid": TICKET_QR_CID,
            },
        )
        message.attach_alternative(html, "text/html")
        qr = MIMEImage(tickets.ticket_qr_png(ticket["ticket_code"]), "png")
        qr.add_header("Content-ID", f"<{TICKET_QR_CID}>")
        qr.add_header("Content-Disposition", "inline", filename="ticket-qr.png")
        message.attach(qr)
        message.attach(
            f"ticket-{ticket['reservation_id']}.pdf", tickets.ticket_pdf(ticket), "application/pdf"
        )
    message.send()


def _payment_completed_email(payload: dict[str, Any]) -> None:
    payment = _payment_for_email(payload)
    ticket = payment and booking_selectors.ticket_get(reservation_id=payment["reservation_id"])
    # A confirmation held up (a mail outage) until after a refund would contradict the refund's
    # email: a refunded reservation is no ticket, and nothing is sent.
    if ticket is not None:
        _send_payment_email(
            payment,
            subject="Your ticket: {title}",
            opening="your payment of {amount:,} is complete.",
            ticket=ticket,
        )


def _payment_refunded_email(payload: dict[str, Any]) -> None:
    payment = _payment_for_email(payload)
    if payment is None:
        return
    # Events written before refunds named who made them are the operator's full refunds.
    if payload.get("by") != REFUND_BY_BUYER:
        _send_payment_email(
            payment,
            subject="Refunded: {title}",
            opening=(
                "this ticket was cancelled and its {amount:,} paid back to your balance; "
                "the seat is on sale again."
            ),
        )
        return
    refunded, fee = payload["refunded"], payload["fee"]
    paid_back = (
        f"{refunded:,} of the {{amount:,}} you paid went back to your balance, "
        f"less a cancellation fee of {fee:,}"
        if fee
        else "the {amount:,} you paid went back to your balance"
    )
    _send_payment_email(
        payment,
        subject="Cancelled: {title}",
        opening=f"you cancelled this ticket: {paid_back}. The seat is on sale again.",
    )


EVENT_HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    OutboxEvent.PAYMENT_COMPLETED: _payment_completed_email,
    OutboxEvent.PAYMENT_REFUNDED: _payment_refunded_email,
}


# The longest wait between two tries of a failing event.
OUTBOX_RETRY_MAX_SECONDS = 3600


def _outbox_retry_delay(attempts: int) -> timedelta:
    """After the `attempts`-th failure: 1, 2, 4... relay intervals, at most an hour."""
    seconds = settings.OUTBOX_RELAY_INTERVAL_SECONDS * 2 ** min(attempts - 1, 20)
    return timedelta(seconds=min(seconds, OUTBOX_RETRY_MAX_SECONDS))


def _outbox_claim_lease() -> timedelta:
    """How long a claimed event is left to the relay that claimed it: longer than any one try
    (an SMTP conversation is about ten round trips, each allowed EMAIL_TIMEOUT)."""
    return timedelta(seconds=60 + 12 * settings.EMAIL_TIMEOUT)


def _outbox_claim(*, event_id: int | None, tried: list[int]) -> OutboxEvent | None:
    """Take the next due event (or just `event_id`) for one try, in a short transaction.

    The claim counts the try and makes the event due again only when the lease is over, so no
    other relay takes it meanwhile, and one whose relay dies mid-try is tried again after it.
    The event's `lease_until` is the exact due time the claim wrote: the claim's own token.
    """
    with transaction.atomic():
        pending = (
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(delivered_at__isnull=True)
            .exclude(pk__in=tried)
            .only("event_type", "payload", "attempts")
            # By the database's clock at this statement, which no other claim of the row shares.
            .annotate(lease_until=Now() + _outbox_claim_lease())
        )
        if event_id is not None:
            # One given event, if it was never tried, whatever its due time.
            pending = pending.filter(pk=event_id, attempts=0)
        else:
            # Due by the database's clock, which also stamped new events' due time: a worker
            # whose clock lags must not leave a fresh event for the next beat.
            pending = pending.filter(next_attempt_at__lte=Now()).order_by("next_attempt_at", "pk")
        event = pending.first()
        if event is None:
            return None
        event.attempts += 1
        OutboxEvent.objects.filter(pk=event.pk).update(
            attempts=event.attempts, next_attempt_at=event.lease_until
        )
    return event


def outbox_relay(*, event_id: int | None = None, limit: int = 1000) -> int:
    """Deliver undelivered events (or just `event_id`) once each; returns how many were delivered.

    Each event is claimed in a short transaction of its own under FOR UPDATE SKIP LOCKED
    (_outbox_claim), so two relays never take the same event and never wait for each other. The
    email is sent with no transaction open and no row locked: a stalled mail server holds no
    database connection in a transaction and blocks nobody. The outcome is written afterwards in
    one statement. Delivery is at least once: if the process dies after the email went out but
    before that write, the event is sent again once its claim runs out. An event whose delivery
    failed waits out its back-off (_outbox_retry_delay), counted from the end of the failed try;
    after OUTBOX_MAX_ATTEMPTS failures it waits for an operator (outbox_retry).
    """
    if event_id is None:
        # Before reading: a payment that commits from now on queues a relay of its own, and one
        # that committed earlier is among the events this run reads (see _relay_enqueue).
        cache.delete(RELAY_QUEUED_KEY)
    delivered = 0
    tried: list[int] = []
    for _ in range(limit):
        event = _outbox_claim(event_id=event_id, tried=tried)
        if event is None:
            break
        tried.append(event.pk)
        try:
            handler = EVENT_HANDLERS[event.event_type]
            handler(event.payload)
        except Exception as exc:  # kept for a later run; one bad event must not block others
            if event.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
                next_attempt_at = None
                logger.exception(
                    "Outbox event %s failed %s times; left for an operator",
                    event.pk,
                    event.attempts,
                )
            else:
                # From now (the database's clock, as above), not from the try's start: a try
                # that ran into a timeout must not leave the event due again at once.
                next_attempt_at = Now() + _outbox_retry_delay(event.attempts)
                logger.exception("Outbox event %s failed", event.pk)
            # Only while the claim is still ours: an event claimed again after a lease ran out
            # or an operator's retry is the later try's to record. `attempts` cannot tell: a
            # retry resets it, and the next claim counts it back to where ours left it.
            OutboxEvent.objects.filter(
                pk=event.pk, next_attempt_at=event.lease_until, delivered_at__isnull=True
            ).update(
                last_error=f"{type(exc).__name__}: {exc}"[:2000], next_attempt_at=next_attempt_at
            )
            continue
        OutboxEvent.objects.filter(pk=event.pk, delivered_at__isnull=True).update(
            delivered_at=timezone.now()
        )
        delivered += 1
    return delivered


def outbox_retry(*, event_ids: list[int]) -> int:
    """An operator's "try again now" for undelivered events, those given up on included:
    they are due at once with OUTBOX_MAX_ATTEMPTS tries ahead, and a relay is queued after
    commit. Returns how many events were made due; delivered ones are left alone."""
    with transaction.atomic():
        count = OutboxEvent.objects.filter(pk__in=event_ids, delivered_at__isnull=True).update(
            attempts=0, next_attempt_at=Now()
        )
        if count:
            transaction.on_commit(_relay_enqueue, robust=True)
    return count


def wallets_seed(*, user_ids: list[int], balance: int, batch_size: int = 5000) -> int:
    """Give each user a wallet holding exactly `balance`, each change written to the ledger.

    Bulk: per batch one INSERT of the missing wallets, one locking read, one UPDATE and one INSERT
    of ledger rows. Returns how many wallets changed.
    """
    changed = 0
    now = timezone.now()
    for start in range(0, len(user_ids), batch_size):
        batch = user_ids[start : start + batch_size]
        with transaction.atomic():
            Wallet.objects.bulk_create(
                [Wallet(user_id=user_id) for user_id in batch], ignore_conflicts=True
            )
            wallets = list(
                Wallet.objects.select_for_update()
                .filter(user_id__in=batch)
                .exclude(balance=balance)
                .order_by("pk")
                .values_list("pk", "balance")
            )
            Wallet.objects.filter(pk__in=[pk for pk, _ in wallets]).update(
                balance=balance, updated_at=now
            )
            LedgerEntry.objects.bulk_create(
                [
                    LedgerEntry(
                        wallet_id=pk,
                        kind=LedgerKind.ADJUSTMENT,
                        amount=balance - old,
                        balance_after=balance,
                        created_at=now,
                    )
                    for pk, old in wallets
                ]
            )
        changed += len(wallets)
    return changed


def payments_reset() -> None:
    """Remove every wallet, ledger entry, top-up, payment, idempotency key and outbox event.

    For demo resets only: the catalog reset truncates seats with CASCADE, which would take the
    payments and their ledger rows but leave the wallets, and balances must never disagree with
    the ledger.
    """
    models = [OutboxEvent, IdempotencyKey, LedgerEntry, Payment, TopUp, Wallet]
    if connection.vendor == "postgresql":
        tables = ", ".join(model._meta.db_table for model in models)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY")
    else:
        with transaction.atomic():
            for model in models:
                model.objects.all().delete()


# --- Refunds (an operator's, or a buyer's cancellation) and balance adjustments ---------------

SCOPE_ADJUST = "wallet_adjust"


@dataclass(frozen=True)
class Refund:
    refunded: int
    fee: int
    balance: int


def _payment_refund(
    *, reservation_id: int, buyer_id: int | None, fee_percent: int, by: str, now: datetime
) -> Refund:
    """The one refund step, in the caller's transaction: cancel the paid reservation (with
    `buyer_id`, as its buyer may), free its seat, credit the buyer what was paid less the fee
    (refund_fee), and write the refund's ledger row beside the payment it reverses and the
    buyer's email to the outbox.

    Locks in the project's order: the reservation (booking's reservation_cancel_paid, which also
    refuses one that is not paid, so two refunds cannot both pass), the seat, the wallet.
    """
    reservation = booking_services.reservation_cancel_paid(
        reservation_id=reservation_id, buyer_id=buyer_id, now=now
    )
    payment = Payment.objects.get(reservation_id=reservation.pk)
    fee = refund_fee(payment.amount, percent=fee_percent)
    refunded = payment.amount - fee
    wallet_id, balance = _wallet_add(user_id=payment.user_id, delta=refunded, now=now)
    _payment_booked(
        payment=payment,
        wallet_id=wallet_id,
        kind=LedgerKind.REFUND,
        amount=refunded,
        balance=balance,
        event_type=OutboxEvent.PAYMENT_REFUNDED,
        now=now,
        event={"refunded": refunded, "fee": fee, "by": by},
    )
    transaction.on_commit(_relay_enqueue, robust=True)
    return Refund(refunded=refunded, fee=fee, balance=balance)


def payment_refund(*, reservation_id: int) -> int:
    """The operator's refund: a paid reservation cancelled and all it cost paid back to the
    buyer's wallet, whenever the show is (_payment_refund). Returns the new balance."""
    with transaction.atomic():
        refund = _payment_refund(
            reservation_id=reservation_id,
            buyer_id=None,
            fee_percent=0,
            by=REFUND_BY_OPERATOR,
            now=timezone.now(),
        )
    return refund.balance


def ticket_cancel(
    *, user: AbstractBaseUser, reservation_id: int, idempotency_key: str | None = None
) -> Outcome:
    """A buyer cancels their own paid ticket: refunded less CANCEL_FEE_PERCENT, until
    CANCEL_UNTIL_HOURS before the show and unless it was checked in at the door.

    Locks in the project's order: the user, then the reservation, whose checks (booking's
    reservation_cancel_paid) and refund (_payment_refund) run under its lock. A retry with the
    key replays the first answer, so a lost answer is never a second refund.
    """
    key = idempotency_key_check(idempotency_key)

    def work() -> dict[str, Any]:
        user_lock_active(user_id=user.pk)
        refund = _payment_refund(
            reservation_id=reservation_id,
            buyer_id=user.pk,
            fee_percent=settings.CANCEL_FEE_PERCENT,
            by=REFUND_BY_BUYER,
            now=timezone.now(),
        )
        return {
            "reservation_id": reservation_id,
            "status": ReservationStatus.CANCELLED.value,
            "refunded": refund.refunded,
            "fee": refund.fee,
            "balance": refund.balance,
        }

    return _idempotent(
        user=user,
        scope=SCOPE_CANCEL,
        key=key,
        request={"reservation_id": reservation_id},
        status=200,
        work=work,
    )


def wallet_adjust(
    *,
    operator: AbstractBaseUser,
    user_id: int,
    amount: int,
    idempotency_key: str | None = None,
) -> Outcome:
    """Credit (amount > 0) or debit (amount < 0) a user's balance by hand, with a ledger row.

    A debit never takes the balance below zero (InsufficientBalance). The key is the operator's,
    so a form sent twice adjusts once.
    """
    if type(amount) is not int or amount == 0 or abs(amount) >= settings.CHARGE_MAX_AMOUNT:
        raise InvalidAmount(
            "The adjustment must be a whole number other than zero, below "
            f"{settings.CHARGE_MAX_AMOUNT} either way."
        )
    key = idempotency_key_check(idempotency_key)

    def work() -> dict[str, Any]:
        now = timezone.now()
        changed = _wallet_add(user_id=user_id, delta=amount, now=now)
        if changed is None:
            raise InsufficientBalance("The balance is too low for this debit.")
        wallet_id, balance = changed
        LedgerEntry.objects.create(
            wallet_id=wallet_id,
            kind=LedgerKind.ADJUSTMENT,
            amount=amount,
            balance_after=balance,
            created_at=now,
        )
        return {"balance": balance}

    return _idempotent(
        user=operator,
        scope=SCOPE_ADJUST,
        key=key,
        request={"user_id": user_id, "amount": amount},
        status=200,
        work=work,
    )
