"""Hot responses format times without a serializer; the text must be what DRF would write."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

VALUES = [
    datetime(2026, 11, 24, 23, 59, 59, 123456, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # a daylight-saving change in Europe
    datetime(2027, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5))),
]


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Seoul", "Europe/Berlin"])
@pytest.mark.parametrize("value", VALUES)
def test_same_text_as_the_serializer_field(settings, time_zone, value):
    # Imported here: importing the API module before DRF's views loop through DRF's settings.
    from rest_framework import serializers

    from concertbooking.api import api_datetime

    settings.TIME_ZONE = time_zone
    assert api_datetime(value) == serializers.DateTimeField().to_representation(value)
