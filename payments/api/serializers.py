"""Input and output shapes of the money API (they also document the OpenAPI schema)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_serializer
from rest_framework import serializers
from rest_framework.fields import empty

from booking.api.serializers import SeatIdsField
from booking.models import ReservationStatus
from concertbooking.api import ID_MAX, ErrorOutput, StrictIntegerField, StrictSerializer
from payments.models import TopUpStatus


class AmountField(serializers.Field):
    """Hands the JSON value to the service unchanged, so every bad amount (missing, a string, a
    float, true, negative, huge) gets the one answer 400 invalid_amount from one place."""

    def validate_empty_values(self, data):
        # Missing or null goes to the service as None, to be refused there with the rest.
        return (True, None) if data is empty or data is None else (False, data)

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class AmountFieldSchema(OpenApiSerializerFieldExtension):
    """What payments.services.amount_check accepts, read when the schema is built."""

    target_class = AmountField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "integer", "minimum": 1, "maximum": settings.CHARGE_MAX_AMOUNT - 1}


class ChargeInput(StrictSerializer):
    amount = AmountField()


class BalanceOutput(serializers.Serializer):
    balance = serializers.IntegerField()


class TopUpPendingOutput(serializers.Serializer):
    """A top-up the gateway confirms later: the balance grows once its callback confirms it."""

    top_up_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[TopUpStatus.PENDING])
    amount = serializers.IntegerField()
    gateway = serializers.CharField()
    payment_id = serializers.CharField(help_text="The gateway's id for the payment.")
    redirect_url = serializers.URLField(
        allow_null=True, help_text="Where to pay, for a gateway with a payment page of its own."
    )


class TopUpLimitOutput(ErrorOutput):
    remaining = serializers.IntegerField(
        min_value=0,
        required=False,
        help_text="With code `top_up_limit_reached`: what may still be topped up today (UTC).",
    )


class TopUpCallbackOutput(serializers.Serializer):
    top_up_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[TopUpStatus.CONFIRMED, TopUpStatus.FAILED])


class PaymentInput(StrictSerializer):
    """One held seat."""

    reservation_id = StrictIntegerField(min_value=1, max_value=ID_MAX)


@extend_schema_serializer(component_name="PartyPaymentInput")
class PartyPaymentInput(StrictSerializer):
    """The held seats of a party: paid all together or none."""

    # The same bounds as a party's hold: at most HOLD_LIMIT_PER_USER, none twice.
    reservation_ids = SeatIdsField()


# Exactly one of the two shapes, each refusing the other's field (as the hold's input).
PAYMENT_CREATE_INPUT = PolymorphicProxySerializer(
    component_name="PaymentCreateInput",
    serializers=[PaymentInput, PartyPaymentInput],
    resource_type_field_name=None,
)


class PaymentOutput(serializers.Serializer):
    payment_id = serializers.IntegerField()
    reservation_id = serializers.IntegerField()
    amount = serializers.IntegerField()
    balance = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[ReservationStatus.PAID])
    paid_at = serializers.DateTimeField()


class TicketCancelOutput(serializers.Serializer):
    reservation_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[ReservationStatus.CANCELLED])
    refunded = serializers.IntegerField(
        min_value=0, help_text="Paid back to the balance: what was paid less `fee`."
    )
    fee = serializers.IntegerField(
        min_value=0, help_text="Kept: CANCEL_FEE_PERCENT of what was paid, rounded down."
    )
    balance = serializers.IntegerField(min_value=0)


class TicketCancelConflictOutput(ErrorOutput):
    deadline = serializers.DateTimeField(
        required=False,
        help_text="With code `cancel_deadline_passed`: until when the ticket could be cancelled.",
    )


class PartyPaymentOutput(serializers.Serializer):
    payments = PaymentOutput(
        many=True,
        help_text="One per seat, by reservation id; each `balance` is the one after that seat, "
        "as its ledger row says.",
    )
    total = serializers.IntegerField(help_text="Debited from the balance at once.")
    balance = serializers.IntegerField()


# One seat's answer stays as it always was.
PAYMENT_CREATE_OUTPUT = PolymorphicProxySerializer(
    component_name="PaymentCreateOutput",
    serializers=[PaymentOutput, PartyPaymentOutput],
    resource_type_field_name=None,
)
