"""Booking API: catalog reads, seat holds and one's own reservations; one view per operation."""

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from booking import selectors, services
from booking.api.serializers import (
    RESERVATION_CREATE_INPUT,
    RESERVATION_CREATE_OUTPUT,
    AvailableDateOutput,
    AvailableSeatOutput,
    BestAvailableOutput,
    CheckInConflictOutput,
    CheckInInput,
    CheckInOutput,
    ConcertOutput,
    PartyHoldInput,
    PartyHoldOutput,
    ReservationCreateInput,
    ReservationListOutput,
    ReservationOutput,
    WaitlistEntryOutput,
)
from booking.errors import CheckInNotAllowed
from concertbooking.api import (
    PAGE_PARAMETERS,
    BodyRequiredSchema,
    ErrorOutput,
    InvalidInputOutput,
    PagePagination,
    error_responses,
    page_of,
)
from concertbooking.limits import RateLimitThrottle
from queueing.api.serializers import QUEUE_TOKEN_PARAMETER
from queueing.gate import admitted_room, queue_gated


class ConcertListApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: page_of("ConcertPage", ConcertOutput), **error_responses(400, 404)},
        operation_id="concert_list",
    )
    def get(self, request: Request) -> Response:
        paginator = PagePagination()
        page = paginator.paginate_queryset(selectors.concert_list(), request, view=self)
        return paginator.get_paginated_response(ConcertOutput(page, many=True).data)


# The catalog reads answer the JSON body the cache keeps already rendered; the serializers
# document its shape.
@queue_gated
class AvailableDatesApi(APIView):
    @extend_schema(
        parameters=[QUEUE_TOKEN_PARAMETER],
        responses={
            200: AvailableDateOutput(many=True),
            **error_responses(401, 403, 404, 503),
        },
        operation_id="available_dates",
    )
    def get(self, request: Request, concert_id: int) -> HttpResponse:
        body = selectors.concert_available_dates_json(concert_id=concert_id)
        return HttpResponse(body, content_type="application/json")


@queue_gated
class AvailableSeatsApi(APIView):
    @extend_schema(
        parameters=[QUEUE_TOKEN_PARAMETER],
        responses={
            200: AvailableSeatOutput(many=True),
            **error_responses(401, 403, 404, 503),
        },
        operation_id="available_seats",
    )
    def get(self, request: Request, concert_id: int, schedule_id: int) -> HttpResponse:
        body = selectors.schedule_available_seats_json(
            concert_id=concert_id, schedule_id=schedule_id
        )
        return HttpResponse(body, content_type="application/json")


# Read when the schema is built: HOLD_LIMIT_PER_USER bounds a party.
def _count_parameter() -> OpenApiParameter:
    return OpenApiParameter(
        "count",
        {"type": "integer", "minimum": 1, "maximum": settings.HOLD_LIMIT_PER_USER},
        OpenApiParameter.QUERY,
        required=True,
        description="How many seats side by side; anything else is a 400 `invalid_count`.",
    )


@queue_gated
class BestAvailableApi(APIView):
    """The best `count` free seats side by side in one row of a date: the best tier first,
    then the row nearest the stage, then nearest the row's centre. None so placed is not an
    error: 200 with an empty list, so a client can offer single seats instead."""

    @extend_schema(
        parameters=[QUEUE_TOKEN_PARAMETER, _count_parameter()],
        responses={200: BestAvailableOutput, **error_responses(400, 401, 403, 404, 503)},
        operation_id="best_available",
    )
    def get(self, request: Request, concert_id: int, schedule_id: int) -> HttpResponse:
        body = selectors.schedule_best_available_json(
            concert_id=concert_id,
            schedule_id=schedule_id,
            count=request.query_params.get("count"),
        )
        return HttpResponse(body, content_type="application/json")


@queue_gated
class ReservationCreateApi(APIView):
    """Hold a seat (`seat_id`), or the seats of a party of one date (`seat_ids`, all or none),
    for a few minutes (behind the queue gate)."""

    schema = BodyRequiredSchema()

    throttle_classes = [RateLimitThrottle]
    throttle_scope = "hold"

    @extend_schema(
        request=RESERVATION_CREATE_INPUT,
        parameters=[QUEUE_TOKEN_PARAMETER],
        responses={
            201: RESERVATION_CREATE_OUTPUT,
            **error_responses(400, 401, 403, 404, 409, 415, 429, 503),
        },
        operation_id="reservation_create",
    )
    def post(self, request: Request) -> Response:
        party = isinstance(request.data, dict) and "seat_ids" in request.data
        data = (PartyHoldInput if party else ReservationCreateInput)(data=request.data)
        data.is_valid(raise_exception=True)
        holds = services.reservation_hold(
            user=request.user, queue_room=admitted_room(request), **data.validated_data
        )
        if not party:
            return Response(ReservationOutput(holds).data, status=status.HTTP_201_CREATED)
        answer = {
            "reservations": holds,
            "expires_at": holds[0]["expires_at"],
            "total": sum(hold["price"] for hold in holds),
        }
        return Response(PartyHoldOutput(answer).data, status=status.HTTP_201_CREATED)


class ReservationListApi(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={
            200: page_of("ReservationPage", ReservationListOutput),
            **error_responses(400, 401, 404),
        },
        operation_id="reservation_list",
    )
    def get(self, request: Request) -> Response:
        paginator = PagePagination()
        page = paginator.paginate_queryset(
            selectors.reservation_list(user_id=request.user.pk), request, view=self
        )
        return paginator.get_paginated_response(ReservationListOutput(page, many=True).data)


class ReservationCancelApi(APIView):
    """Release one's own hold; the seat is free again at once."""

    @extend_schema(
        responses={204: None, **error_responses(401, 403, 404, 409)},
        operation_id="reservation_cancel",
    )
    def delete(self, request: Request, reservation_id: int) -> Response:
        services.reservation_cancel(user=request.user, reservation_id=reservation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CanCheckIn(BasePermission):
    """Signed in (else 401) and holding booking.check_in (else 403 `check_in_not_allowed`)."""

    def has_permission(self, request: Request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if not request.user.has_perm("booking.check_in"):
            raise CheckInNotAllowed()
        return True


class CheckInApi(APIView):
    """Scan a ticket at the door: the first scan lets its holder in, any later one is refused."""

    permission_classes = [CanCheckIn]

    @extend_schema(
        request=CheckInInput,
        responses={
            200: OpenApiResponse(CheckInOutput, "Checked in: let them in to this seat."),
            400: OpenApiResponse(
                InvalidInputOutput,
                "`invalid_ticket_code` (not 32 hex digits), or refused input: `invalid` (see "
                "`fields`), `malformed_request`, `request_too_large`.",
            ),
            **error_responses(401),
            403: OpenApiResponse(
                ErrorOutput,
                "The caller may not check tickets in (`check_in_not_allowed`), or "
                "`permission_denied` (a session call without its CSRF token).",
            ),
            404: OpenApiResponse(ErrorOutput, "No paid ticket has this code (`ticket_not_found`)."),
            409: OpenApiResponse(
                CheckInConflictOutput,
                "Not let in: `already_checked_in` (with `checked_in_at`, the first scan's "
                "time, and `checked_in_by`), `ticket_refunded`, or `ticket_other_date` (with "
                "the ticket's `schedule_id` and `starts_at`).",
            ),
            **error_responses(415),
        },
        operation_id="ticket_check_in",
    )
    def post(self, request: Request) -> Response:
        data = CheckInInput(data=request.data)
        data.is_valid(raise_exception=True)
        checked_in = services.ticket_check_in(staff=request.user, **data.validated_data)
        return Response(CheckInOutput(checked_in).data)


# Outside the queue: joining a sold-out date needs no place, and its offer is paid without one.
class WaitlistApi(APIView):
    """Join or leave a sold-out date's waiting list."""

    @extend_schema(
        request=None,
        responses={201: WaitlistEntryOutput, **error_responses(401, 403, 404, 409)},
        operation_id="waitlist_join",
        description="The date must be to come and sold out (else 409 `not_sold_out`: book a "
        "seat). A seat that comes back is held for the next in line for "
        "WAITLIST_CLAIM_MINUTES; 409 `already_on_waitlist`, `schedule_past`; 404 "
        "`schedule_not_found`.",
    )
    def post(self, request: Request, schedule_id: int) -> Response:
        entry = services.waitlist_join(user=request.user, schedule_id=schedule_id)
        return Response(WaitlistEntryOutput(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={204: None, **error_responses(401, 403, 404)},
        operation_id="waitlist_leave",
        description="A seat held for you passes to the next in line; 404 `not_on_waitlist`.",
    )
    def delete(self, request: Request, schedule_id: int) -> Response:
        services.waitlist_leave(user=request.user, schedule_id=schedule_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WaitlistListApi(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={
            200: page_of("WaitlistPage", WaitlistEntryOutput),
            **error_responses(400, 401, 404),
        },
        operation_id="waitlist_list",
        description="Your places on waiting lists, soonest date first, with any seat held for you.",
    )
    def get(self, request: Request) -> Response:
        paginator = PagePagination()
        page = paginator.paginate_queryset(
            selectors.waitlist_entries(user_id=request.user.pk), request, view=self
        )
        return paginator.get_paginated_response(WaitlistEntryOutput(page, many=True).data)
