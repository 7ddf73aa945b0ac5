"""Queue API: take a place, check it, give it up. One handler per operation."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from concertbooking.api import api_datetime
from queueing import api_user, selectors, services
from queueing.api.serializers import QueueTicketOutput, QueueTokenIssueInput
from queueing.errors import QueueTokenInvalid, QueueTokenRequired
from queueing.selectors import QueueTicket
from queueing.web import HEADER, MAX_TOKEN_LENGTH, queue_token_from_request

_TOKEN_HEADER = OpenApiParameter(
    HEADER, type=str, location=OpenApiParameter.HEADER, required=True, description="Queue token"
)


def ticket_body(ticket: QueueTicket) -> dict:
    """QueueTicketOutput's JSON, built directly: issue and polls are the API's busiest calls, and
    a serializer instance per response (fields deep-copied, then walked) cost more than the
    queue's Redis round trip. QueueTicketOutput still documents the shape; a test keeps the two
    equal."""
    return {
        "token": ticket.token,
        "status": ticket.status,
        "position": ticket.position,
        "estimated_wait_seconds": ticket.estimated_wait_seconds,
        "poll_after_seconds": ticket.poll_after_seconds,
        "expires_at": api_datetime(ticket.expires_at),
    }


def _token(request: Request) -> str:
    token = queue_token_from_request(request)
    if token is None:
        raise QueueTokenRequired()
    if len(token) > MAX_TOKEN_LENGTH:
        raise QueueTokenInvalid()
    return token


class QueueTokenIssueApi(APIView):
    first_call: tuple[int, QueueTicket] | None = None

    def perform_authentication(self, request: Request) -> None:
        # A caller this process does not remember: its API token is looked up in the issue's
        # own round trip (queueing.api_user), and DRF then authenticates it from that lookup.
        # Here, after content negotiation (a 406 takes no place), before the permission check
        # (signed in, which that lookup decides; no throttles: a test pins both), and only with
        # no body, which leaves nothing to refuse once the place is taken.
        key = api_user.key_to_look_up(request) if request.method == "POST" else None
        if key is not None and request.META.get("CONTENT_LENGTH") in (None, "", "0"):
            self.first_call = services.queue_token_issue_for_api_key(request, api_key=key)
        super().perform_authentication(request)

    @extend_schema(
        request=QueueTokenIssueInput,
        responses={201: QueueTicketOutput, 200: QueueTicketOutput},
        operation_id="queue_token_issue",
        description="201 with a new place at the back; 200 with the user's live place.",
    )
    def post(self, request: Request) -> Response:
        if request.data:  # an empty body has no unknown fields to refuse
            QueueTokenIssueInput(data=request.data).is_valid(raise_exception=True)
        if self.first_call is not None and self.first_call[0] == request.user.pk:
            ticket = self.first_call[1]
        else:
            ticket = services.queue_token_issue(user_id=request.user.pk)
        return Response(
            ticket_body(ticket),
            status=status.HTTP_201_CREATED if ticket.created else status.HTTP_200_OK,
        )


class QueueTokenCurrentApi(APIView):
    """Two operations on one URL (Django routes by path only); each handler stays one call."""

    first_call: tuple[int, QueueTicket | None] | None = None

    def perform_authentication(self, request: Request) -> None:
        # A poll from a caller this process does not remember: as in QueueTokenIssueApi.
        key = api_user.key_to_look_up(request) if request.method == "GET" else None
        token = queue_token_from_request(request) if key is not None else None
        if token is not None and len(token) <= MAX_TOKEN_LENGTH:
            self.first_call = selectors.queue_token_status_for_api_key(
                request, token=token, api_key=key
            )
        super().perform_authentication(request)

    @extend_schema(
        parameters=[_TOKEN_HEADER],
        responses=QueueTicketOutput,
        operation_id="queue_token_status",
    )
    def get(self, request: Request) -> Response:
        if self.first_call is not None and self.first_call[0] == request.user.pk:
            ticket = self.first_call[1]
            if ticket is None:
                raise QueueTokenInvalid()
        else:
            ticket = selectors.queue_token_status(token=_token(request), user_id=request.user.pk)
        return Response(ticket_body(ticket))

    @extend_schema(
        parameters=[_TOKEN_HEADER],
        request=None,
        responses={204: None},
        operation_id="queue_token_leave",
    )
    def delete(self, request: Request) -> Response:
        services.queue_token_leave(token=_token(request), user_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
