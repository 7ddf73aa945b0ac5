"""factory-boy factories for catalog rows."""

from datetime import timedelta

import factory
from django.utils import timezone

from booking.models import Concert, ConcertSchedule, Seat


class ConcertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Concert

    title = factory.Sequence(lambda n: f"Concert {n}")
    performer = "The Testers"
    venue = "Test Hall"


class ScheduleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConcertSchedule

    concert = factory.SubFactory(ConcertFactory)
    starts_at = factory.Sequence(lambda n: timezone.now() + timedelta(days=1 + n))


class SeatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Seat

    schedule = factory.SubFactory(ScheduleFactory)
    number = factory.Sequence(lambda n: n + 1)
    row = "A"
    tier = "S"
    price = 80_000
