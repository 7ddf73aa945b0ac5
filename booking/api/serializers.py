"""Input and output shapes of the booking API (they also document the OpenAPI schema)."""

from rest_framework import serializers

from concertbooking.api import ID_MAX, StrictIntegerField, StrictSerializer


class ConcertOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    performer = serializers.CharField()
    venue = serializers.CharField()
    next_date = serializers.DateTimeField(allow_null=True)


class AvailableDateOutput(serializers.Serializer):
    schedule_id = serializers.IntegerField()
    concert_id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    available_seats = serializers.IntegerField()


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
    status = serializers.CharField()
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
    # held, paid, expired or cancelled; a hold past its deadline already reads expired.
    status = serializers.CharField(source="status_now")
    expires_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
