"""Input and output shapes of the booking API (they also document the OpenAPI schema)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers

from booking.models import ReservationStatus, WaitlistStatus
from concertbooking.api import ID_MAX, ErrorOutput, StrictIntegerField, StrictSerializer


class ConcertOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    performer = serializers.CharField()
    venue = serializers.CharField()
    next_date = serializers.DateTimeField(allow_null=True)


# Components named as the paths name what they are (/schedules/{schedule_id}, a hold's seat_id),
# so a reader or a tool of the schema sees where their ids go.
@extend_schema_serializer(component_name="Schedule")
class AvailableDateOutput(serializers.Serializer):
    schedule_id = serializers.IntegerField()
    concert_id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    available_seats = serializers.IntegerField()


@extend_schema_serializer(component_name="Seat")
class AvailableSeatOutput(serializers.Serializer):
    seat_id = serializers.IntegerField()
    number = serializers.IntegerField()
    row = serializers.CharField()
    price = serializers.IntegerField()


class BestSeatOutput(serializers.Serializer):
    seat_id = serializers.IntegerField()
    number = serializers.IntegerField()
    row = serializers.CharField()
    tier = serializers.CharField()
    price = serializers.IntegerField()


class BestAvailableOutput(serializers.Serializer):
    seats = BestSeatOutput(
        many=True,
        help_text="Side by side in one row, by number; empty when no row has so many free "
        "together.",
    )
    total = serializers.IntegerField(help_text="Their prices summed; 0 when there are none.")


@extend_schema_serializer(component_name="SeatHoldInput")
class ReservationCreateInput(StrictSerializer):
    """One seat."""

    seat_id = StrictIntegerField(min_value=1, max_value=ID_MAX)


class SeatIdsField(serializers.ListField):
    """Seat ids, at least one; how many at most (HOLD_LIMIT_PER_USER) and that none repeats is
    the service's to say, with its own codes (too_many_seats, invalid)."""

    child = StrictIntegerField(min_value=1, max_value=ID_MAX)

    def __init__(self, **kwargs):
        super().__init__(min_length=1, **kwargs)

    def run_child_validation(self, data):
        # Flat messages, as every other field's: `fields` maps a field to a list of strings.
        try:
            return super().run_child_validation(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(
                [
                    f"Item {index}: {message}"
                    for index, messages in exc.detail.items()
                    for message in messages
                ]
            ) from exc


class SeatIdsFieldSchema(OpenApiSerializerFieldExtension):
    """What booking.services.reservation_hold accepts, read when the schema is built."""

    target_class = SeatIdsField

    def map_serializer_field(self, auto_schema, direction):
        return {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": ID_MAX},
            "minItems": 1,
            "maxItems": settings.HOLD_LIMIT_PER_USER,
            "uniqueItems": True,
        }


@extend_schema_serializer(component_name="PartyHoldInput")
class PartyHoldInput(StrictSerializer):
    """The seats of a party, all of one date: held all together or none."""

    seat_ids = SeatIdsField()


# Exactly one of the two shapes: each refuses the other's field, so the schema's oneOf is the
# rule the view applies, and a generated client gets two plain models rather than one whose
# fields exclude each other only in prose.
RESERVATION_CREATE_INPUT = PolymorphicProxySerializer(
    component_name="ReservationCreateInput",
    serializers=[ReservationCreateInput, PartyHoldInput],
    resource_type_field_name=None,
)


class ReservationOutput(serializers.Serializer):
    reservation_id = serializers.IntegerField()
    seat_id = serializers.IntegerField()
    schedule_id = serializers.IntegerField()
    concert_id = serializers.IntegerField()
    price = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[ReservationStatus.HELD])
    expires_at = serializers.DateTimeField()


class PartyHoldOutput(serializers.Serializer):
    reservations = ReservationOutput(many=True, help_text="One per seat, by seat id.")
    expires_at = serializers.DateTimeField(help_text="When every hold of the party runs out.")
    total = serializers.IntegerField(help_text="The party's price: its seats' prices summed.")


# The single seat's answer stays as it always was, so existing clients read it unchanged.
RESERVATION_CREATE_OUTPUT = PolymorphicProxySerializer(
    component_name="ReservationCreateOutput",
    serializers=[ReservationOutput, PartyHoldOutput],
    resource_type_field_name=None,
)


class ReservationListOutput(serializers.Serializer):
    reservation_id = serializers.IntegerField()
    seat_id = serializers.IntegerField()
    seat_number = serializers.IntegerField()
    seat_row = serializers.CharField()
    schedule_id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    concert_id = serializers.IntegerField()
    concert_title = serializers.CharField()
    price = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=ReservationStatus.choices,
        source="status_now",
        help_text="A hold past its deadline already reads expired.",
    )
    expires_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    ticket_code = serializers.CharField(
        source="shown_ticket_code",
        allow_null=True,
        min_length=32,
        max_length=32,
        help_text="The ticket's secret code (what its QR code holds) once paid; null otherwise.",
    )


class CheckInInput(StrictSerializer):
    code = serializers.CharField(
        max_length=128,
        trim_whitespace=False,
        help_text="The ticket code as scanned or typed: 32 hex digits; case, spaces and dashes "
        "between them do not matter.",
    )
    schedule_id = StrictIntegerField(
        min_value=1,
        max_value=ID_MAX,
        required=False,
        help_text="The date the door admits to: a ticket for another date is refused.",
    )


class CheckInOutput(serializers.Serializer):
    reservation_id = serializers.IntegerField()
    concert_title = serializers.CharField()
    schedule_id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    seat_row = serializers.CharField()
    seat_number = serializers.IntegerField()
    tier = serializers.CharField(allow_blank=True)
    holder = serializers.CharField(help_text="The holder's username.")
    holder_name = serializers.CharField(
        allow_null=True, help_text="The holder's full name, if they gave one."
    )
    checked_in_at = serializers.DateTimeField()


class CheckInConflictOutput(ErrorOutput):
    checked_in_at = serializers.DateTimeField(
        required=False, help_text="With `already_checked_in`: when the first scan let them in."
    )
    checked_in_by = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="With `already_checked_in`: who scanned it then (null if no longer known).",
    )
    schedule_id = serializers.IntegerField(
        required=False, help_text="With `ticket_other_date`: the ticket's date."
    )
    starts_at = serializers.DateTimeField(
        required=False, help_text="With `ticket_other_date`: when the ticket's date starts."
    )


class WaitlistOfferOutput(serializers.Serializer):
    reservation_id = serializers.IntegerField(
        help_text="Pay it as any hold, without a queue token."
    )
    seat_id = serializers.IntegerField()
    seat_number = serializers.IntegerField()
    seat_row = serializers.CharField()
    price = serializers.IntegerField()
    expires_at = serializers.DateTimeField(help_text="The seat is held for you until then.")


class WaitlistEntryOutput(serializers.Serializer):
    schedule_id = serializers.IntegerField()
    concert_id = serializers.IntegerField()
    concert_title = serializers.CharField()
    starts_at = serializers.DateTimeField()
    status = serializers.ChoiceField(
        choices=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED, WaitlistStatus.LAPSED],
        source="status_now",
        help_text="`offered`: a seat is held for you (`offer`). An offer past its claim reads "
        "`lapsed` until its seat has passed on.",
    )
    position = serializers.IntegerField(
        allow_null=True, min_value=1, help_text="Your place in line, 1 = next; null once offered."
    )
    joined_at = serializers.DateTimeField(source="created_at")
    offer = serializers.SerializerMethodField()

    @extend_schema_field(WaitlistOfferOutput(allow_null=True))
    def get_offer(self, row: dict) -> dict | None:
        if row["status_now"] != WaitlistStatus.OFFERED:
            return None
        return WaitlistOfferOutput(row).data
