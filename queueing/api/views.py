"""Queue API: take a place, check it, give it up. One handler per operation."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from concertbooking.api import api_datetime, error_responses
from queueing import selectors, services
from queueing.api.serializers import (
    QUEUE_TOKEN_PARAMETER,
    QueueTicketOutput,
    QueueTokenIssueInput,
)
from queueing.errors import QueueTokenInvalid, QueueTokenRequired
from queueing.selectors import QueueTicket
from queueing.web import MAX_TOKEN_LENGTH, queue_token_from_request


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
    }


def _token(request: Request) -> str:
    token = queue_token_from_request(request)
    if token is None:
        raise QueueTokenRequired()
    if len(token) > MAX_TOKEN_LENGTH:
        raise QueueTokenInvalid()
    return token


class QueueTokenIssueApi(APIView):
    @extend_schema(
        request=QueueTokenIssueInput,
        responses={
            201: QueueTicketOutput,
            200: QueueTicketOutput,
            **error_responses(400, 401, 403, 415, 503),
        },
        operation_id="queue_token_issue",
        description="201 with a new place at the back; 200 with the user's live place.",
    )
    def post(self, request: Request) -> Response:
        # No body reads as {}: nothing to refuse; any other body (even null) must be an object.
        if request.data != {}:
            QueueTokenIssueInput(data=request.data).is_valid(raise_exception=True)
        ticket = services.queue_token_issue(user_id=request.user.pk)
        code = status.HTTP_201_CREATED if ticket.created else status.HTTP_200_OK
        return Response(ticket_body(ticket), status=code)


class QueueTokenCurrentApi(APIView):
    """Two operations on one URL (Django routes by path only); each handler stays one call."""

    @extend_schema(
        parameters=[QUEUE_TOKEN_PARAMETER],
        responses={200: QueueTicketOutput, **error_responses(401, 403, 503)},
        operation_id="queue_token_status",
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
