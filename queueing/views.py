"""The waiting room's pages: join a room's queue, wait, leave (thin views over the queue
services)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.views.decorators.http import require_POST

from concertbooking.errors import ApplicationError
from concertbooking.limits import rate_limited
from concertbooking.pages import form_id, local_path
from queueing import selectors, services
from queueing.errors import QueueTokenInvalid, SaleNotOpen
from queueing.web import (
    ROOM_KEY,
    queue_token_forget,
    queue_token_from_request,
    queue_token_remember,
    seconds_until,
    token_room,
)

# Where the buyer goes once admitted, per room (room -> path), and the position they started
# from (for the progress bar).
QUEUE_NEXT_KEY = "queue_next"
QUEUE_START_KEY = "queue_start_position"


def _sale_not_open_message(concert_id: int | None) -> str:
    """SaleNotOpen's detail carries an API timestamp; a buyer reads the local time."""
    config = selectors.site_room() if concert_id is None else selectors.room_for_concert(concert_id)
    opens_at = config.prequeue_opens_at
    if opens_at is None:  # the room changed in between
        return SaleNotOpen.default_detail
    when = date_format(timezone.localtime(opens_at), "l j F, H:i T")
    return f"The queue for this concert is not open yet. It opens on {when}; come back then."


def _room_concert_id(room: str | None) -> int | None:
    config = selectors.room_named(room) if room else None
    return config and config.concert_id


def _next_set(request, room: str, url: str) -> None:
    kept = request.session.get(QUEUE_NEXT_KEY)
    request.session[QUEUE_NEXT_KEY] = {**(kept if isinstance(kept, dict) else {}), room: url}


def _next_of(request, room: str | None) -> str:
    kept = request.session.get(QUEUE_NEXT_KEY)
    return (kept.get(room) if isinstance(kept, dict) else None) or reverse("home")


def _room(request) -> str | None:
    """The room a waiting-room page is about: the concert's in the query, else the last one."""
    concert_id = form_id(request.GET.get("concert"))
    if concert_id is not None:
        return selectors.room_for_concert(concert_id).name
    return request.session.get(ROOM_KEY)


@login_required
@rate_limited("queue_join")
@require_POST
def queue_join(request):
    """Take a place in the queue of the concert's room (or keep the one held), then wait or go
    straight on."""
    next_url = local_path(request, request.POST.get("next")) or reverse("home")
    concert_id = form_id(request.POST.get("concert_id"))
    try:
        ticket = services.queue_token_issue(user_id=request.user.pk, concert_id=concert_id)
    except ApplicationError as exc:
        messages.error(
            request,
            _sale_not_open_message(concert_id) if isinstance(exc, SaleNotOpen) else exc.detail,
        )
        if concert_id is not None:
            return redirect("concert-detail", concert_id=concert_id)
        return redirect(next_url if not next_url.startswith("/book/") else "home")
    queue_token_remember(request, ticket.token)
    _next_set(request, token_room(ticket.token), next_url)
    if ticket.created or QUEUE_START_KEY not in request.session:
        request.session[QUEUE_START_KEY] = ticket.position or 1
    if ticket.status == "active":
        return redirect(next_url)
    return redirect("queue-waiting-room")


@login_required
def waiting_room(request):
    """Where a buyer waits: the countdown to the draw, then position, people ahead, estimated
    wait and chance of a seat; moves on once admitted."""
    room = _room(request)
    next_url = local_path(request, request.GET.get("next"))
    if next_url and room:
        _next_set(request, room, next_url)
    next_url = next_url or _next_of(request, room)
    token = queue_token_from_request(request, room)
    # The concert the page is about, so joining again takes a place in the same room.
    concert_id = form_id(request.GET.get("concert")) or _room_concert_id(room)
    context = {"next": next_url, "concert_id": concert_id}
    if token is None:
        return render(request, "queueing/waiting_room.html", {**context, "state": "none"})
    try:
        ticket = selectors.queue_token_status(token=token, user_id=request.user.pk)
    except QueueTokenInvalid:
        queue_token_forget(request, room)
        return render(request, "queueing/waiting_room.html", {**context, "state": "lost"})
    except ApplicationError as exc:
        response = render(
            request,
            "queueing/waiting_room.html",
            {**context, "state": "unavailable", "detail": exc.detail},
            status=exc.status_code,
        )
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:  # a poll too soon, or the queue briefly away
            response["Retry-After"] = str(retry_after)
        return response
    request.session[ROOM_KEY] = room_name = token_room(token)
    if ticket.status == "active":
        return redirect(next_url)
    context.update(
        room_name=room_name,
        concert_id=ticket.concert_id,
        state=ticket.status,  # "scheduled", "waiting" or "sold_out"
        ticket=ticket,
        # The seed's fingerprint, for the pre-queue (read without Redis before the start).
        room=selectors.room_public(concert_id=ticket.concert_id)
        if ticket.status == "scheduled"
        else None,
        status_url=reverse("api-queue-token-current"),
        chance=None if ticket.chance_of_seat is None else round(ticket.chance_of_seat * 100),
        starts_in=seconds_until(ticket.sale_starts_at) if ticket.sale_starts_at else 0,
        start=int(request.session.get(QUEUE_START_KEY) or 1),
    )
    if ticket.position is not None:
        start = max(context["start"], ticket.position)
        request.session[QUEUE_START_KEY] = start
        context.update(
            start=start,
            ahead=ticket.position - 1,
            progress=round(100 * (start - ticket.position + 1) / (start + 1)),
        )
    return render(request, "queueing/waiting_room.html", context)


@login_required
@require_POST
def queue_leave(request):
    # The room of the page the buyer left from (they may wait in several), else the last one.
    room = request.POST.get("room") or None
    token = queue_token_from_request(request, room)
    if token:
        try:
            services.queue_token_leave(token=token, user_id=request.user.pk)
        except QueueTokenInvalid:
            pass  # already gone: leaving is done either way
        except ApplicationError as exc:
            messages.error(request, exc.detail)
            return redirect("queue-waiting-room")
    queue_token_forget(request, room)
    request.session.pop(QUEUE_START_KEY, None)
    messages.info(request, "You have left the queue.")
    return redirect("home")
