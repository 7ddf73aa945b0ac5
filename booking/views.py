"""Booking pages for buyers: catalog, dates, seat map, holds and the waiting room (thin views)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from booking import selectors
from booking import services as booking_services
from concertbooking.errors import ApplicationError
from concertbooking.pages import local_path, not_found
from queueing import selectors as queue_selectors
from queueing import services as queue_services
from queueing.errors import QueueTokenInvalid
from queueing.web import queue_token_forget, queue_token_from_request, queue_token_remember

MAX_ID = 2**63 - 1


def _posted_id(request, name: str) -> int | None:
    try:
        value = int(request.POST.get(name, ""))
    except ValueError:
        return None
    return value if 0 < value <= MAX_ID else None


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
    return render(
        request,
        "booking/concert_detail.html",
        {"concert": concert, "dates": dates[concert_id]},
    )


@login_required
def booking_dates(request, concert_id: int):
    try:
        concert = selectors.concert_get(concert_id=concert_id)
    except ApplicationError as exc:
        return not_found(request, exc)
    dates = selectors.concert_dates(concert_id=concert_id)
    return render(request, "booking/dates.html", {"concert": concert, "dates": dates})


@login_required
def seat_map(request, schedule_id: int):
    try:
        seat_map = selectors.schedule_seat_map(schedule_id=schedule_id)
    except ApplicationError as exc:
        return not_found(request, exc)
    schedule = seat_map["schedule"]
    return render(
        request,
        "booking/seat_map.html",
        {
            "map": seat_map,
            "schedule": schedule,
            "past": schedule["starts_at"] <= timezone.now(),
            "dates_url": reverse("booking-dates", kwargs={"concert_id": schedule["concert_id"]}),
        },
    )


@login_required
@require_POST
def seat_hold(request, schedule_id: int):
    """Hold the chosen seat, then go to checkout; a taken seat sends the buyer back to choose."""
    seat_id = _posted_id(request, "seat_id")
    if seat_id is None:
        messages.error(request, "Choose a seat first.")
        return redirect("booking-seat-map", schedule_id=schedule_id)
    try:
        hold = booking_services.reservation_hold(user=request.user, seat_id=seat_id)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect("booking-seat-map", schedule_id=schedule_id)
    return redirect("booking-checkout", reservation_id=hold["reservation_id"])


# --- Waiting room ------------------------------------------------------------------------------

# Where the buyer goes once admitted, and the position they started from (for the progress bar).
QUEUE_NEXT_KEY = "queue_next"
QUEUE_START_KEY = "queue_start_position"


@login_required
@require_POST
def queue_join(request):
    """Take a place in the queue (or keep the one held), then wait or go straight on."""
    next_url = local_path(request, request.POST.get("next")) or reverse("home")
    try:
        ticket = queue_services.queue_token_issue(user_id=request.user.pk)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect(next_url if not next_url.startswith("/book/") else "home")
    queue_token_remember(request, ticket.token)
    request.session[QUEUE_NEXT_KEY] = next_url
    if ticket.created or QUEUE_START_KEY not in request.session:
        request.session[QUEUE_START_KEY] = ticket.position or 1
    if ticket.status == "active":
        return redirect(next_url)
    return redirect("queue-waiting-room")


@login_required
def waiting_room(request):
    """Where a buyer waits: position, people ahead, estimated wait; moves on once admitted."""
    next_url = local_path(request, request.GET.get("next"))
    if next_url:
        request.session[QUEUE_NEXT_KEY] = next_url
    next_url = request.session.get(QUEUE_NEXT_KEY) or reverse("home")
    token = queue_token_from_request(request)
    context = {"next": next_url}
    if token is None:
        return render(request, "booking/waiting_room.html", {**context, "state": "none"})
    try:
        ticket = queue_selectors.queue_token_status(token=token, user_id=request.user.pk)
    except QueueTokenInvalid:
        queue_token_forget(request)
        return render(request, "booking/waiting_room.html", {**context, "state": "lost"})
    except ApplicationError as exc:
        return render(
            request,
            "booking/waiting_room.html",
            {**context, "state": "unavailable", "detail": exc.detail},
            status=exc.status_code,
        )
    if ticket.status == "active":
        return redirect(next_url)
    start = max(int(request.session.get(QUEUE_START_KEY) or 1), ticket.position)
    request.session[QUEUE_START_KEY] = start
    return render(
        request,
        "booking/waiting_room.html",
        {
            **context,
            "state": "waiting",
            "ticket": ticket,
            "ahead": ticket.position - 1,
            "progress": round(100 * (start - ticket.position + 1) / (start + 1)),
            "start": start,
            "status_url": reverse("api-queue-token-current"),
        },
    )


@login_required
@require_POST
def queue_leave(request):
    token = queue_token_from_request(request)
    if token:
        try:
            queue_services.queue_token_leave(token=token, user_id=request.user.pk)
        except QueueTokenInvalid:
            pass  # already gone: leaving is done either way
        except ApplicationError as exc:
            messages.error(request, exc.detail)
            return redirect("queue-waiting-room")
    queue_token_forget(request)
    request.session.pop(QUEUE_START_KEY, None)
    messages.info(request, "You have left the queue.")
    return redirect("home")
