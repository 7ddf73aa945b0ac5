"""Queue API: take a place, check it, give it up; a concert room's public page and its draw."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from concertbooking.api import api_datetime, error_responses
from concertbooking.limits import RateLimitThrottle
from queueing import selectors, services
from queueing.api.serializers import (
    QUEUE_TOKEN_PARAMETER,
    DrawOutput,
    QueueTicketOutput,
    QueueTokenIssueInput,
    RoomOutput,
)
from queueing.errors import ConcertNotFound, QueueTokenInvalid, QueueTokenRequired
from queueing.selectors import QueueTicket
from queueing.web import MAX_TOKEN_LENGTH, queue_token_from_request


def _time(value):
    return None if value is None else api_datetime(value)


def ticket_body(ticket: QueueTicket) -> dict:
    """The ticket as QueueTicketOutput renders it, built as plain data: the queue's polls are the
    API's busiest calls, and a serializer instance per answer costs more than the poll's Redis
    round trip. A test keeps the two equal."""
    return {
        "token": ticket.token,
        "status": ticket.status,
        "position": ticket.position,
        "estimated_wait_seconds": ticket.estimated_wait_seconds,
        "poll_after_seconds": ticket.poll_after_seconds,
        "expires_at": api_datetime(ticket.expires_at),
        "concert_id": ticket.concert_id,
        "sale_starts_at": _time(ticket.sale_starts_at),
        "draw_id": ticket.draw_id,
        "chance_of_seat": ticket.chance_of_seat,
    }


def _token(request: Request) -> str:
    token = queue_token_from_request(request)
    if token is None:
        raise QueueTokenRequired()
    if len(token) > MAX_TOKEN_LENGTH:
        raise QueueTokenInvalid()
    return token


class QueueTokenIssueApi(APIView):
    throttle_classes = [RateLimitThrottle]
    throttle_scope = "queue_join"

    @extend_schema(
        request=QueueTokenIssueInput,
        responses={
            201: QueueTicketOutput,
            200: QueueTicketOutput,
            **error_responses(400, 401, 403, 404, 409, 415, 429, 503),
        },
        operation_id="queue_token_issue",
        description="201 with a new place; 200 with the user's live place in that room. A "
        "concert's pre-queue answers `scheduled`; before it opens, 409 `sale_not_open`; a closed "
        "room, 409 `room_closed`.",
    )
    def post(self, request: Request) -> Response:
        # No body reads as {}: nothing to refuse; any other body (even null) must be an object.
        concert_id = None
        if request.data != {}:
            data = QueueTokenIssueInput(data=request.data)
            data.is_valid(raise_exception=True)
            concert_id = data.validated_data.get("concert_id")
        ticket = services.queue_token_issue(user_id=request.user.pk, concert_id=concert_id)
        code = status.HTTP_201_CREATED if ticket.created else status.HTTP_200_OK
        return Response(ticket_body(ticket), status=code)


class QueueTokenCurrentApi(APIView):
    """Two operations on one URL (Django routes by path only); each handler stays one call."""

    @extend_schema(
        parameters=[QUEUE_TOKEN_PARAMETER],
        responses={200: QueueTicketOutput, **error_responses(401, 403, 429, 503)},
        operation_id="queue_token_status",
        description="Counts as a poll; polling well ahead of `poll_after_seconds` is refused "
        "with 429 `rate_limited`.",
    )
    def get(self, request: Request) -> Response:
        ticket = selectors.queue_token_status(token=_token(request), user_id=request.user.pk)
        return Response(ticket_body(ticket))

    @extend_schema(
        parameters=[QUEUE_TOKEN_PARAMETER],
        request=None,
        responses={204: None, **error_responses(401, 403, 503)},
        operation_id="queue_token_leave",
    )
    def delete(self, request: Request) -> Response:
        services.queue_token_leave(token=_token(request), user_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _room_public(concert_id: int) -> selectors.RoomPublic:
    room = selectors.room_public(concert_id=concert_id, count_draw=True)
    if room is None and not selectors.concert_exists(concert_id):
        raise ConcertNotFound()
    return room


class ConcertRoomApi(APIView):
    """Anyone may read when a concert's queue opens and check its draw."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={200: RoomOutput, **error_responses(404, 503)},
        operation_id="concert_queue",
    )
    def get(self, request: Request, concert_id: int) -> Response:
        room = _room_public(concert_id)
        if room is None:
            site = selectors.site_room()
            body = {
                "concert_id": concert_id,
                "own_room": False,
                "mode": site.mode_at(timezone.now()),
                "phase": "on_sale",
                "sale_starts_at": None,
                "prequeue_opens_at": None,
                "seed_sha256": None,
                "seed": None,
                "drawn": None,
            }
        else:
            body = {
                "concert_id": concert_id,
                "own_room": True,
                "mode": room.mode,
                "phase": room.phase,
                "sale_starts_at": _time(room.sale_starts_at),
                "prequeue_opens_at": _time(room.prequeue_opens_at),
                "seed_sha256": room.seed_sha256,
                "seed": room.seed,
                "drawn": room.drawn,
            }
        return Response(RoomOutput(body).data)


class DrawQuery(serializers.Serializer):
    offset = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=10_000, default=1000)


class ConcertDrawApi(APIView):
    """The pre-queue as drawn, for anyone to recompute from the published seed."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        parameters=[
            OpenApiParameter("offset", {"type": "integer", "minimum": 0, "maximum": 10_000_000}),
            OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 10_000}),
        ],
        responses={200: DrawOutput, **error_responses(400, 404, 503)},
        operation_id="concert_queue_draw",
        description="Empty until the sale has started.",
    )
    def get(self, request: Request, concert_id: int) -> Response:
        # A plain dict: as form data, an empty `?limit=` would silently read as the default.
        query = DrawQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        offset, limit = query.validated_data["offset"], query.validated_data["limit"]
        _room_public(concert_id)
        draw_ids = selectors.room_draw(concert_id=concert_id, offset=offset, limit=limit)
        return Response({"offset": offset, "draw_ids": draw_ids})
