"""Booking pages for buyers: catalog, dates, seat map and holds (thin views)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from booking import selectors
from booking import services as booking_services
from booking.errors import ScheduleNotFound
from concertbooking.errors import ApplicationError
from concertbooking.limits import rate_limited
from concertbooking.pages import form_id, local_path, not_found
from queueing import selectors as queue_selectors
from queueing.gate import admitted_room, queue_gated
from queueing.web import room_page_refusal, seconds_until


def home(request):
    page = Paginator(selectors.concert_list(), 24).get_page(request.GET.get("page"))
    concerts = list(page)
    dates = selectors.concerts_upcoming_dates(concert_ids=[c["id"] for c in concerts])
    for concert in concerts:
        concert["dates"] = dates.get(concert["id"], [])
    return render(request, "booking/home.html", {"page": page, "concerts": concerts})


def concert_detail(request, concert_id: int):
    try:
        concert = selectors.concert_get(concert_id=concert_id)
    except ApplicationError as exc:
        return not_found(request, exc)
    # Dates without seat counts: this page is outside the queue, so it must stay cheap.
    dates = selectors.concerts_upcoming_dates(concert_ids=[concert_id], per_concert=12)
    room = queue_selectors.room_public(concert_id=concert_id)  # no Redis: the page stays up
    sale = None
    if room is not None and room.sale_starts_at is not None:
        sale = {
            "starts_in": seconds_until(room.sale_starts_at),
            "opens_in": seconds_until(room.prequeue_opens_at),
            "prequeue_minutes": round(
                (room.sale_starts_at - room.prequeue_opens_at).total_seconds() / 60
            ),
        }
    return render(
        request,
        "booking/concert_detail.html",
        {"concert": concert, "dates": dates[concert_id], "room": room, "sale": sale},
    )


@queue_gated
@login_required
def booking_dates(request, concert_id: int):
    try:
        concert = selectors.concert_get(concert_id=concert_id)
    except ApplicationError as exc:
        return not_found(request, exc)
    dates = selectors.concert_dates(concert_id=concert_id)
    return render(request, "booking/dates.html", {"concert": concert, "dates": dates})


@queue_gated
@login_required
def seat_map(request, schedule_id: int):
    try:
        seat_map = selectors.schedule_seat_map(schedule_id=schedule_id)
    except ApplicationError as exc:
        return not_found(request, exc)
    schedule = seat_map["schedule"]
    refusal = room_page_refusal(request, schedule["concert_id"])
    if refusal is not None:
        return refusal
    # Picking several seats: asked for, or "best available N together" picked them already.
    picking = "pick" in request.GET or "together" in request.GET
    together = None
    picked: list[dict] = []
    if "together" in request.GET:
        try:
            best = selectors.schedule_best_available(
                concert_id=schedule["concert_id"],
                schedule_id=schedule_id,
                count=request.GET["together"],
            )
        except ApplicationError as exc:
            messages.error(request, exc.detail)
        else:
            together = len(best["seats"]) or int(request.GET["together"])
            picked = best["seats"]
            if not picked:
                messages.info(
                    request,
                    f"No {together} free seats are side by side in one row; pick seats one by "
                    "one instead.",
                )
    picked_ids = {seat["seat_id"] for seat in picked}
    return render(
        request,
        "booking/seat_map.html",
        {
            "map": seat_map,
            "schedule": schedule,
            "past": schedule["starts_at"] <= timezone.now(),
            "dates_url": reverse("booking-dates", kwargs={"concert_id": schedule["concert_id"]}),
            "picking": picking,
            "picked_ids": picked_ids,
            "picked_total": sum(seat["price"] for seat in picked),
            "together": together or 2,
            "hold_limit": settings.HOLD_LIMIT_PER_USER,
        },
    )


@queue_gated
@login_required
@rate_limited("hold")
@require_POST
def seat_hold(request, schedule_id: int):
    """Hold the chosen seat, or the seats picked for a party, then go to checkout; a taken seat
    sends the buyer back to choose."""
    picked = request.POST.getlist("seat_ids")
    party = [form_id(value) for value in picked]
    seat_id = None if picked else form_id(request.POST.get("seat_id"))
    if (not picked and seat_id is None) or None in party:
        messages.error(request, "Choose a seat first.")
        return redirect("booking-seat-map", schedule_id=schedule_id)
    try:
        if picked:
            holds = booking_services.reservation_hold(
                user=request.user, seat_ids=party, queue_room=admitted_room(request)
            )
        else:
            holds = [
                booking_services.reservation_hold(
                    user=request.user, seat_id=seat_id, queue_room=admitted_room(request)
                )
            ]
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        back = reverse("booking-seat-map", kwargs={"schedule_id": schedule_id})
        return redirect(f"{back}?pick=1" if picked else back)
    return redirect("booking-checkout", reservation_id=holds[0]["reservation_id"])


# What the door's page says above each refusal's detail, by the refusal's code.
_REFUSAL_TITLES = {
    "already_checked_in": "Already checked in",
    "ticket_refunded": "Refunded: not valid",
    "ticket_other_date": "Ticket for another date",
    "ticket_not_found": "Unknown ticket",
    "invalid_ticket_code": "Not a ticket code",
}


@login_required
def check_in(request):
    """The door's page, for a phone: scan or type a ticket code, see at once whether to let
    its holder in. The same service as POST /api/check-in."""
    if not request.user.has_perm("booking.check_in"):
        return render(request, "booking/check_in.html", {"forbidden": True}, status=403)
    dates = selectors.check_in_dates()
    chosen = request.POST.get("schedule_id") if request.method == "POST" else None
    if chosen is None:
        today = timezone.localdate()
        chosen = next(
            (str(d["id"]) for d in dates if timezone.localdate(d["starts_at"]) == today), ""
        )
    result = refusal = None
    if request.method == "POST":
        schedule_id = form_id(chosen) if chosen else None
        try:
            if chosen and schedule_id is None:
                raise ScheduleNotFound("Choose a date from the list.")
            result = booking_services.ticket_check_in(
                code=request.POST.get("code", ""), staff=request.user, schedule_id=schedule_id
            )
        except ApplicationError as exc:
            refusal = {
                "code": exc.code,
                "title": _REFUSAL_TITLES.get(exc.code, "Not checked in"),
                "detail": exc.detail,
            }
    return render(
        request,
        "booking/check_in.html",
        {"dates": dates, "chosen": chosen, "result": result, "refusal": refusal},
    )


# --- Waiting lists: outside the queue, as joining a sold-out date needs no place in it ---------


@login_required
def waitlist(request, concert_id: int):
    """A concert's dates, sold out or not, with the buyer's places in their waiting lists."""
    try:
        concert = selectors.concert_get(concert_id=concert_id)
    except ApplicationError as exc:
        return not_found(request, exc)
    dates = selectors.concert_waitlist_dates(concert_id=concert_id, user_id=request.user.pk)
    return render(request, "booking/waitlist.html", {"concert": concert, "dates": dates})


def _back(request) -> str:
    return local_path(request, request.POST.get("next")) or reverse("tickets")


@login_required
@require_POST
def waitlist_join(request, schedule_id: int):
    try:
        entry = booking_services.waitlist_join(user=request.user, schedule_id=schedule_id)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect(_back(request))
    messages.success(
        request,
        f"You are on the waiting list, number {entry['position']} in line. When a seat comes "
        "back it is held for you and we email you.",
    )
    return redirect(_back(request))


@login_required
@require_POST
def waitlist_leave(request, schedule_id: int):
    try:
        booking_services.waitlist_leave(user=request.user, schedule_id=schedule_id)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect(_back(request))
    messages.info(request, "You have left the waiting list.")
    return redirect(_back(request))
