"""Money API: the balance, top-ups, the gateway's callback, seat payments and cancellations;
one view per operation."""

import io

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from booking import selectors as booking_selectors
from concertbooking.api import BodyRequiredSchema, ErrorOutput, error_responses
from concertbooking.limits import RateLimitThrottle
from concertbooking.parsers import JSONParser
from payments import gateways, selectors, services
from payments.api.serializers import (
    PAYMENT_CREATE_INPUT,
    PAYMENT_CREATE_OUTPUT,
    BalanceOutput,
    ChargeInput,
    PartyPaymentInput,
    PaymentInput,
    TicketCancelConflictOutput,
    TicketCancelOutput,
    TopUpCallbackOutput,
    TopUpLimitOutput,
    TopUpPendingOutput,
)
from payments.errors import InvalidIdempotencyKey
from queueing.api.serializers import QUEUE_TOKEN_PARAMETER
from queueing.gate import PASS_CLAIM, PASS_REPLAY, admitted_room, passed_to_replay, queue_gated

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    # What services.idempotency_key_check accepts, as HTTP carries it (no space at either end).
    {
        "type": "string",
        "minLength": 1,
        "maxLength": services.IDEMPOTENCY_KEY_MAX_LENGTH,
        "pattern": "^[!-~]([ -~]*[!-~])?$",
    },
    OpenApiParameter.HEADER,
    description="Optional. Sending the same key again replays the first answer instead of "
    "repeating the work; the same key with another body is refused with 422.",
)


# The payment's retry of a stored answer passes without a queue token (queueing.gate), so the
# header is required of every other request only.
QUEUE_TOKEN_UNLESS_REPLAYED = OpenApiParameter(
    QUEUE_TOKEN_PARAMETER.name,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=f"{QUEUE_TOKEN_PARAMETER.description} Required, except on a retry of a payment "
    "whose answer is stored under its Idempotency-Key and body, which replays that answer.",
)


def _replayed_header(status: int) -> OpenApiParameter:
    """The response header that marks a replay of the `status` answer."""
    return OpenApiParameter(
        "Idempotent-Replayed",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        enum=["true"],
        response=[status],
        description="Present on a replay of the first answer to this Idempotency-Key.",
    )


def _idempotency_key(request: Request) -> str | None:
    return request.headers.get("Idempotency-Key")


def _outcome_response(outcome: services.Outcome) -> Response:
    response = Response(outcome.body, status=outcome.status)
    if outcome.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class BalanceApi(APIView):
    @extend_schema(
        responses={200: BalanceOutput, **error_responses(401)}, operation_id="balance_get"
    )
    def get(self, request: Request) -> Response:
        return Response({"balance": selectors.wallet_balance(user_id=request.user.pk)})


class BalanceChargeApi(APIView):
    """Top up the balance through the payment gateway."""

    throttle_classes = [RateLimitThrottle]
    throttle_scope = "topup"

    @extend_schema(
        request=ChargeInput,
        responses={
            200: OpenApiResponse(
                BalanceOutput, "The gateway confirmed at once (sandbox): the new balance."
            ),
            202: OpenApiResponse(
                TopUpPendingOutput,
                "The gateway confirms later: the balance grows when its callback confirms.",
            ),
            **error_responses(400, 401, 403, 415, 422),
            429: OpenApiResponse(
                TopUpLimitOutput,
                "Today's top-up limit is reached (`top_up_limit_reached`, with `remaining`), "
                "or `rate_limited`: retry after `Retry-After` seconds.",
            ),
        },
        parameters=[IDEMPOTENCY_KEY, _replayed_header(200), _replayed_header(202)],
        operation_id="balance_charge",
    )
    def post(self, request: Request) -> Response:
        data = ChargeInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.wallet_charge(
            user=request.user,
            amount=data.validated_data.get("amount"),
            idempotency_key=_idempotency_key(request),
        )
        return _outcome_response(outcome)


def _payment_passes(request, user_id: int, view_kwargs: dict) -> str | None:
    """Why a payment the gate refused may still reach the view: it retries one whose answer is
    stored under its Idempotency-Key and body (paying released the slot), or it pays seats a
    waiting list offered the buyer (held outside the queue)."""
    try:
        key = services.idempotency_key_check(_idempotency_key(request))
        # The view's own parser, so the body fingerprinted is the one the view would read.
        body = JSONParser().parse(io.BytesIO(request.body))
    except (InvalidIdempotencyKey, ParseError):
        return None
    if key is not None and selectors.idempotent_answer_stored(
        user_id=user_id, scope=services.SCOPE_PAYMENT, key=key, request=body
    ):
        return PASS_REPLAY
    reservation_ids = services.payment_reservation_ids(body)
    if reservation_ids and booking_selectors.reservations_claimed(
        user_id=user_id, reservation_ids=reservation_ids
    ):
        return PASS_CLAIM
    return None


@queue_gated(passes=_payment_passes)
class PaymentCreateApi(APIView):
    """Pay for one's own held seat (`reservation_id`), or the held seats of a party
    (`reservation_ids`, all or none, one debit of the total), from the balance (behind the queue
    gate)."""

    schema = BodyRequiredSchema()

    @extend_schema(
        request=PAYMENT_CREATE_INPUT,
        responses={
            201: PAYMENT_CREATE_OUTPUT,
            **error_responses(400, 401, 403, 404, 409, 410, 415, 422, 503),
        },
        parameters=[QUEUE_TOKEN_UNLESS_REPLAYED, IDEMPOTENCY_KEY, _replayed_header(201)],
        operation_id="payment_create",
    )
    def post(self, request: Request) -> Response:
        party = isinstance(request.data, dict) and "reservation_ids" in request.data
        data = (PartyPaymentInput if party else PaymentInput)(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.payment_create(
            user=request.user,
            **data.validated_data,
            idempotency_key=_idempotency_key(request),
            queue_room=admitted_room(request),
            replay_only=passed_to_replay(request),
        )
        return _outcome_response(outcome)


class TicketCancelApi(APIView):
    """Cancel one's own paid ticket, refunded to the balance less the cancellation fee, until
    CANCEL_UNTIL_HOURS before the show. Not behind the queue: after the sale the buyer has no
    place in it."""

    @extend_schema(
        request=None,
        responses={
            200: TicketCancelOutput,
            **error_responses(400, 401, 403),
            404: OpenApiResponse(
                ErrorOutput,
                "`reservation_not_found`: no such reservation among the caller's own.",
            ),
            409: OpenApiResponse(
                TicketCancelConflictOutput,
                "`reservation_not_paid` (a hold: release it instead), "
                "`ticket_already_cancelled`, `cancel_deadline_passed` (with `deadline`), or "
                "`ticket_checked_in` (scanned at the door).",
            ),
            **error_responses(422),
        },
        parameters=[IDEMPOTENCY_KEY, _replayed_header(200)],
        operation_id="ticket_cancel",
    )
    def post(self, request: Request, reservation_id: int) -> Response:
        outcome = services.ticket_cancel(
            user=request.user,
            reservation_id=reservation_id,
            idempotency_key=_idempotency_key(request),
        )
        return _outcome_response(outcome)


class TopUpCallbackApi(APIView):
    """The payment gateway's word on a top-up's payment: confirmed (the wallet is credited, once
    per payment however often it is sent) or failed. Signed, not authenticated: the HMAC-SHA256
    of the raw body under PAYMENT_GATEWAY_SECRET, in hex, comes in the Gateway-Signature header."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: TopUpCallbackOutput,
            400: OpenApiResponse(ErrorOutput, "The signed body is not a callback."),
            403: OpenApiResponse(
                ErrorOutput, "Missing or wrong signature (`callback_signature_invalid`)."
            ),
            404: OpenApiResponse(ErrorOutput, "`payment_gateway_not_found` or `top_up_not_found`."),
            409: OpenApiResponse(
                ErrorOutput,
                "`top_up_mismatch`: another amount than the top-up's, or the opposite of its "
                "settled outcome.",
            ),
        },
        parameters=[
            OpenApiParameter(
                gateways.SIGNATURE_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="Hex HMAC-SHA256 of the raw body under PAYMENT_GATEWAY_SECRET.",
            )
        ],
        operation_id="payment_callback",
    )
    def post(self, request: Request, gateway: str) -> Response:
        settled = services.top_up_callback(
            gateway=gateway,
            body=request.body,
            signature=request.headers.get(gateways.SIGNATURE_HEADER),
        )
        return Response({"top_up_id": settled.top_up_id, "status": settled.status})
