"""Input and output shapes of the booking API (they also document the OpenAPI schema)."""

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from booking.models import ReservationStatus, WaitlistStatus
from concertbooking.api import ID_MAX, StrictIntegerField, StrictSerializer


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


class ReservationCreateInput(StrictSerializer):
    seat_id = StrictIntegerField(min_value=1, max_value=ID_MAX)


class ReservationOutput(serializers.Serializer):
    reservation_id = serializers.IntegerField()
    seat_id = serializers.IntegerField()
    schedule_id = serializers.IntegerField()
    concert_id = serializers.IntegerField()
    price = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[ReservationStatus.HELD])
    expires_at = serializers.DateTimeField()


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
