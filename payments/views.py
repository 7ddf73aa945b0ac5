"""Paying pages for buyers: checkout, top-ups and tickets; thin views over booking and payments."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from booking import selectors as booking_selectors
from booking import services as booking_services
from booking import tickets as booking_tickets
from booking.errors import ReservationNotFound, TicketNotFound
from booking.models import ReservationStatus
from concertbooking.errors import ApplicationError
from concertbooking.limits import rate_limited
from concertbooking.pages import form_id, local_path, not_found
from payments import selectors, services
from payments.forms import TopUpForm
from queueing.gate import (
    PASS_CLAIM,
    PASS_REPLAY,
    admitted_room,
    passed_to_replay,
    queue_gated,
)
from queueing.web import room_page_refusal


def _reservation(request, reservation_id: int) -> dict | None:
    """The signed-in user's reservation with what the checkout and ticket pages show."""
    return (
        booking_selectors.reservation_list(user_id=request.user.pk)
        .filter(id=reservation_id)
        .annotate(
            tier=F("seat__tier"),
            venue=F("seat__schedule__concert__venue"),
            performer=F("seat__schedule__concert__performer"),
        )
        .first()
    )


def _idempotency_key() -> str:
    """A key per rendered form: a double click or a resubmitted page replays the first answer."""
    return f"page-{uuid.uuid4().hex}"


def _form_key(request) -> str | None:
    key = request.POST.get("idempotency_key", "")
    return key if 0 < len(key) <= 64 and key.startswith("page-") else None


def _form_reservation_ids(request, view_kwargs: dict) -> list[int]:
    """The reservations a checkout form is about: those it posts as `reservation_ids`, else the
    one in its URL."""
    posted = [form_id(value) for value in request.POST.getlist("reservation_ids")]
    if posted and None not in posted:
        return posted
    return [view_kwargs["reservation_id"]]


def _pay_request(request, view_kwargs: dict) -> dict:
    """What a pay form asks payment_create for, as it is stored with its idempotency key."""
    return {"reservation_ids": _form_reservation_ids(request, view_kwargs)}


def _checkout_passes(request, user_id: int, view_kwargs: dict) -> str | None:
    """Why a checkout request the gate refused may still reach the view: a pay form sent before
    and paid (a resubmission after the answer was lost: paying released the queue slot), or
    seats a waiting list offered the buyer (held outside the queue)."""
    key = _form_key(request)
    if key is not None and selectors.idempotent_answer_stored(
        user_id=user_id,
        scope=services.SCOPE_PAYMENT,
        key=key,
        request=_pay_request(request, view_kwargs),
    ):
        return PASS_REPLAY
    # The URL's reservation as well as the form's: a release acts on the one, a payment on the
    # others, and either passes only for offers.
    named = {view_kwargs["reservation_id"], *_form_reservation_ids(request, view_kwargs)}
    if booking_selectors.reservations_claimed(user_id=user_id, reservation_ids=list(named)):
        return PASS_CLAIM
    return None


def _offer(request, reservation: dict) -> bool:
    """Whether this is a waiting list's offer to the buyer: its checkout needs no room."""
    return booking_selectors.reservations_claimed(
        user_id=request.user.pk, reservation_ids=[reservation["reservation_id"]]
    )


@queue_gated(passes=_checkout_passes)
@login_required
def checkout(request, reservation_id: int):
    reservation = _reservation(request, reservation_id)
    if reservation is None:
        return not_found(request, ReservationNotFound())
    # One's own ticket needs no room: an offer paid from another room's session lands there too.
    if reservation["status_now"] == ReservationStatus.PAID:
        return redirect("ticket-detail", reservation_id=reservation_id)
    offer = _offer(request, reservation)
    if not offer:
        refusal = room_page_refusal(request, reservation["concert_id"])
        if refusal is not None:
            return refusal
    now = timezone.now()

    def seconds_left(hold: dict) -> int:
        return max(0, int((hold["expires_at"] - now).total_seconds()))

    # The buyer's other live holds of this date are paid with it: the party, in seat order. A
    # hold in its last second is left out, as the page would show it over already. An offer is
    # paid alone.
    holds = (
        [reservation]
        if offer
        else booking_selectors.party_holds(
            user_id=request.user.pk, schedule_id=reservation["schedule_id"], now=now
        )
    )
    party = [hold for hold in holds if seconds_left(hold) > 0]
    held = any(hold["reservation_id"] == reservation_id for hold in party)
    if not held:
        party = [reservation]
    total = sum(hold["price"] for hold in party)
    # The first of the party's holds to run out ends the party's payment.
    remaining = min(seconds_left(hold) for hold in party) if held else 0
    balance = selectors.wallet_balance(user_id=request.user.pk)
    return render(
        request,
        "payments/checkout.html",
        {
            "reservation": reservation,
            "party": party,
            "total": total,
            "held": held,
            "remaining": remaining,
            "balance": balance,
            "shortfall": max(0, total - balance),
            "pay_key": _idempotency_key(),
            "topup_key": _idempotency_key(),
            "topup_max": settings.CHARGE_MAX_AMOUNT - 1,
        },
    )


@queue_gated(passes=_checkout_passes)
@login_required
@require_POST
def checkout_pay(request, reservation_id: int):
    """Pay the seats the form names (the party), all or none."""
    paying = _pay_request(request, {"reservation_id": reservation_id})
    try:
        services.payment_create(
            user=request.user,
            **paying,
            idempotency_key=_form_key(request),
            queue_room=admitted_room(request),
            replay_only=passed_to_replay(request),
        )
    except ReservationNotFound as exc:
        return not_found(request, exc)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect("booking-checkout", reservation_id=reservation_id)
    seats = len(paying["reservation_ids"])
    if seats == 1:
        messages.success(request, "Payment complete. Enjoy the show!")
        return redirect("ticket-detail", reservation_id=paying["reservation_ids"][0])
    messages.success(request, f"Payment complete: {seats} tickets. Enjoy the show!")
    return redirect("tickets")


@queue_gated(passes=_checkout_passes)
@login_required
@require_POST
def checkout_release(request, reservation_id: int):
    reservation = _reservation(request, reservation_id)
    if reservation is None:
        return not_found(request, ReservationNotFound())
    offer = _offer(request, reservation)
    if not offer:
        refusal = room_page_refusal(request, reservation["concert_id"])
        if refusal is not None:
            return refusal
    try:
        booking_services.reservation_cancel(user=request.user, reservation_id=reservation_id)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect("booking-checkout", reservation_id=reservation_id)
    if offer:
        # A waiting list's seat let go, outside the queue: the seat map would send to its room.
        messages.info(request, "The seat is released; it passes to the next in line.")
        return redirect("tickets")
    # The rest of a party stays held: back to its checkout, without the seat let go.
    rest = (
        booking_selectors.party_holds(
            user_id=request.user.pk, schedule_id=reservation["schedule_id"]
        )
        .values_list("reservation_id", flat=True)
        .first()
    )
    if rest is not None:
        messages.info(request, "The seat is released; the rest of your seats are still held.")
        return redirect("booking-checkout", reservation_id=rest)
    messages.info(request, "The seat is released. Choose another one whenever you like.")
    return redirect("booking-seat-map", schedule_id=reservation["schedule_id"])


@login_required
@rate_limited("topup")
@require_POST
def wallet_top_up(request):
    """Add to the balance, then go back to the page the form was on (checkout or tickets)."""
    back = local_path(request, request.POST.get("next")) or reverse("tickets")
    form = TopUpForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Top-up not made: {form.errors['amount'][0]}")
        return redirect(back)
    try:
        outcome = services.wallet_charge(
            user=request.user,
            amount=form.cleaned_data["amount"],
            idempotency_key=_form_key(request),
        )
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect(back)
    # A replay (the same form sent twice) reports the first top-up: nothing was added again.
    if outcome.status == 200:
        messages.success(
            request,
            f"Added {form.cleaned_data['amount']:,} to your balance; "
            f"it is now {outcome.body['balance']:,}.",
        )
        return redirect(back)
    if outcome.body["redirect_url"]:
        return redirect(outcome.body["redirect_url"])
    messages.info(
        request,
        f"Your top-up of {form.cleaned_data['amount']:,} is waiting for the payment provider's "
        "confirmation; the balance grows as soon as it arrives.",
    )
    return redirect(back)


@login_required
def tickets(request):
    page = Paginator(booking_selectors.reservation_list(user_id=request.user.pk), 20).get_page(
        request.GET.get("page")
    )
    now = timezone.now()
    rows = list(page)
    for row in rows:
        row["remaining"] = max(0, int((row["expires_at"] - now).total_seconds()))
        row["cancel_until"] = booking_selectors.ticket_cancel_deadline(row["starts_at"])
    return render(
        request,
        "payments/tickets.html",
        {
            "page": page,
            "reservations": rows,
            "now": now,
            "offers": booking_selectors.waitlist_offers_live(user_id=request.user.pk, now=now),
            "balance": selectors.wallet_balance(user_id=request.user.pk),
            "topup_key": _idempotency_key(),
            "topup_max": settings.CHARGE_MAX_AMOUNT - 1,
        },
    )


@login_required
def ticket_detail(request, reservation_id: int):
    reservation = _reservation(request, reservation_id)
    if reservation is None:
        return not_found(request, ReservationNotFound())
    if reservation["status_now"] == ReservationStatus.HELD:
        return redirect("booking-checkout", reservation_id=reservation_id)
    code = reservation["shown_ticket_code"]
    return render(
        request,
        "payments/ticket.html",
        {
            "reservation": reservation,
            "cancel": selectors.ticket_cancel_terms(reservation=reservation),
            "qr_svg": booking_tickets.ticket_qr_svg(code) if code else None,
            "code_display": booking_tickets.ticket_code_display(code) if code else None,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def ticket_cancel(request, reservation_id: int):
    """Cancel one's paid ticket: GET asks for confirmation, POST cancels (the API's service)."""
    if request.method == "POST":
        return _ticket_cancel_confirmed(request, reservation_id)
    reservation = _reservation(request, reservation_id)
    if reservation is None:
        return not_found(request, ReservationNotFound())
    terms = selectors.ticket_cancel_terms(reservation=reservation)
    if terms is None or not terms.open:
        # The ticket page says why it cannot be cancelled (or that it already is).
        return redirect("ticket-detail", reservation_id=reservation_id)
    return render(
        request,
        "payments/ticket_cancel.html",
        {
            "reservation": reservation,
            "cancel": terms,
            "balance": selectors.wallet_balance(user_id=request.user.pk),
            "cancel_key": _idempotency_key(),
        },
    )


def _ticket_cancel_confirmed(request, reservation_id: int):
    try:
        outcome = services.ticket_cancel(
            user=request.user,
            reservation_id=reservation_id,
            idempotency_key=_form_key(request),
        )
    except ReservationNotFound as exc:
        return not_found(request, exc)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect("ticket-detail", reservation_id=reservation_id)
    # A replay (the form sent twice) reports the one cancellation that was made.
    body = outcome.body
    fee = f" (a cancellation fee of {body['fee']:,} was kept)" if body["fee"] else ""
    messages.success(
        request,
        f"Your ticket is cancelled and {body['refunded']:,} went back to your balance{fee}; "
        f"it is now {body['balance']:,}.",
    )
    return redirect("ticket-detail", reservation_id=reservation_id)


@login_required
def ticket_pdf(request, reservation_id: int):
    """The owner's paid ticket as a one-page PDF; anything else is the friendly 404."""
    ticket = booking_selectors.ticket_get(reservation_id=reservation_id, user_id=request.user.pk)
    if ticket is None:
        return not_found(request, TicketNotFound("No paid ticket of yours has this number."))
    response = HttpResponse(booking_tickets.ticket_pdf(ticket), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="ticket-{reservation_id}.pdf"'
    return response
