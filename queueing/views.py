"""The waiting room's pages: join the queue, wait, leave (thin views over the queue services)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from concertbooking.errors import ApplicationError
from concertbooking.pages import local_path
from queueing import selectors, services
from queueing.errors import QueueTokenInvalid
from queueing.web import queue_token_forget, queue_token_from_request, queue_token_remember

# Where the buyer goes once admitted, and the position they started from (for the progress bar).
QUEUE_NEXT_KEY = "queue_next"
QUEUE_START_KEY = "queue_start_position"


@login_required
@require_POST
def queue_join(request):
    """Take a place in the queue (or keep the one held), then wait or go straight on."""
    next_url = local_path(request, request.POST.get("next")) or reverse("home")
    try:
        ticket = services.queue_token_issue(user_id=request.user.pk)
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
        return render(request, "queueing/waiting_room.html", {**context, "state": "none"})
    try:
        ticket = selectors.queue_token_status(token=token, user_id=request.user.pk)
    except QueueTokenInvalid:
        queue_token_forget(request)
        return render(request, "queueing/waiting_room.html", {**context, "state": "lost"})
    except ApplicationError as exc:
        return render(
            request,
            "queueing/waiting_room.html",
            {**context, "state": "unavailable", "detail": exc.detail},
            status=exc.status_code,
        )
    if ticket.status == "active":
        return redirect(next_url)
    start = max(int(request.session.get(QUEUE_START_KEY) or 1), ticket.position)
    request.session[QUEUE_START_KEY] = start
    return render(
        request,
        "queueing/waiting_room.html",
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
            services.queue_token_leave(token=token, user_id=request.user.pk)
        except QueueTokenInvalid:
            pass  # already gone: leaving is done either way
        except ApplicationError as exc:
            messages.error(request, exc.detail)
            return redirect("queue-waiting-room")
    queue_token_forget(request)
    request.session.pop(QUEUE_START_KEY, None)
    messages.info(request, "You have left the queue.")
    return redirect("home")
