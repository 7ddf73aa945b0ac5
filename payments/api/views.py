"""Money API: the balance, top-ups and seat payments; one view per operation."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from concertbooking.api import error_responses
from concertbooking.limits import RateLimitThrottle
from payments import selectors, services
from payments.api.serializers import BalanceOutput, ChargeInput, PaymentInput, PaymentOutput
from queueing.api.serializers import QUEUE_TOKEN_PARAMETER
from queueing.gate import admitted_room, queue_gated

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
    throttle_classes = [RateLimitThrottle]
    throttle_scope = "topup"

    @extend_schema(
        request=ChargeInput,
        responses={200: BalanceOutput, **error_responses(400, 401, 403, 415, 422, 429)},
        parameters=[IDEMPOTENCY_KEY, _replayed_header(200)],
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


@queue_gated
class PaymentCreateApi(APIView):
    """Pay for one's own held seat from the balance (behind the queue gate)."""

    @extend_schema(
        request=PaymentInput,
        responses={
            201: PaymentOutput,
            **error_responses(400, 401, 403, 404, 409, 410, 415, 422, 503),
        },
        parameters=[QUEUE_TOKEN_PARAMETER, IDEMPOTENCY_KEY, _replayed_header(201)],
        operation_id="payment_create",
    )
    def post(self, request: Request) -> Response:
        data = PaymentInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.payment_create(
            user=request.user,
            reservation_id=data.validated_data["reservation_id"],
            idempotency_key=_idempotency_key(request),
            queue_room=admitted_room(request),
        )
        return _outcome_response(outcome)
