"""Output shapes of the catalog API (they also document the OpenAPI schema)."""

from rest_framework import serializers


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
