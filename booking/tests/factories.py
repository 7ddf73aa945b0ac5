"""factory-boy factories for catalog rows and buyers."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
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


def schedule_with_seats(count: int, **schedule_fields) -> ConcertSchedule:
    """A date (ScheduleFactory, with `schedule_fields`) and its seats numbered 1..count."""
    schedule = ScheduleFactory(**schedule_fields)
    for number in range(1, count + 1):
        SeatFactory(schedule=schedule, number=number)
    return schedule


def tour_date(days_ahead: int = 3) -> ConcertSchedule:
    """A named concert's date a few days out, as the page tests show it."""
    concert = ConcertFactory(
        title="Velvet Tides Tour", performer="Nova Choir", venue="Olympic Hall"
    )
    return ScheduleFactory(concert=concert, starts_at=timezone.now() + timedelta(days=days_ahead))


class SeatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Seat

    schedule = factory.SubFactory(ScheduleFactory)
    number = factory.Sequence(lambda n: n + 1)
    row = "A"
    tier = "S"
    price = 80_000


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"buyer{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.test")
    password = "!"  # an unusable password: these buyers are forced-authenticated
