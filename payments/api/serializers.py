"""Input and output shapes of the money API (they also document the OpenAPI schema)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from concertbooking.api import ID_MAX, StrictIntegerField, StrictSerializer


@extend_schema_field(OpenApiTypes.INT)
class AmountField(serializers.Field):
    """Hands the JSON value to the service unchanged, so every bad amount (missing, a string, a
    float, true, negative, huge) gets the one answer 400 invalid_amount from one place."""

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, **kwargs)

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class ChargeInput(StrictSerializer):
    amount = AmountField(help_text="Whole number from 1 to below CHARGE_MAX_AMOUNT.")


class BalanceOutput(serializers.Serializer):
    balance = serializers.IntegerField()


class PaymentInput(StrictSerializer):
    reservation_id = StrictIntegerField(min_value=1, max_value=ID_MAX)


class PaymentOutput(serializers.Serializer):
    payment_id = serializers.IntegerField()
    reservation_id = serializers.IntegerField()
    amount = serializers.IntegerField()
    balance = serializers.IntegerField()
    status = serializers.CharField()
    paid_at = serializers.DateTimeField()
