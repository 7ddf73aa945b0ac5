"""The waiting lists in the console: read-only, per date, a fixed number of queries."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from booking import services
from booking.models import Reservation, WaitlistEntry
from booking.tests.factories import UserFactory
from booking.tests.test_admin import _queries
from booking.tests.test_waitlist import sold_out

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    user = get_user_model().objects.create_superuser("op", "op@example.com", "op-pass-123")
    client = Client()
    client.force_login(user)
    client.get(reverse("admin:index"))  # the first request also warms the session
    return client


def _lists(dates: int, people: int) -> list:
    schedules = []
    for _ in range(dates):
        schedule, holds = sold_out()
        for _ in range(people):
            services.waitlist_join(user=UserFactory(), schedule_id=schedule.pk)
        released = holds[0]
        services.reservation_cancel(
            user=Reservation.objects.get(pk=released["reservation_id"]).user,
            reservation_id=released["reservation_id"],
        )
        schedules.append(schedule)
    return schedules


def test_the_list_costs_the_same_for_few_and_many_entries(operator):
    url = reverse("admin:booking_waitlistentry_changelist")
    _lists(1, 1)
    few = _queries(operator, url)
    _lists(4, 5)
    assert _queries(operator, url) == few


def test_a_dates_list_shows_who_waits_and_the_seat_held_until_when(operator):
    first, second = _lists(2, 2)
    url = reverse("admin:booking_waitlistentry_changelist") + f"?schedule={first.pk}"
    page = operator.get(url).content.decode()
    offered = WaitlistEntry.objects.get(schedule=first, status="offered")
    assert offered.user.username in page
    assert f"Row {offered.offer.seat.row}, seat {offered.offer.seat.number}" in page
    waiting = WaitlistEntry.objects.get(schedule=first, status="waiting")
    assert waiting.user.username in page
    for other in WaitlistEntry.objects.filter(schedule=second):
        assert f">{other.user.username}<" not in page
    change = operator.get(
        reverse("admin:booking_waitlistentry_change", args=[offered.pk])
    ).content.decode()
    assert "Save" not in change  # read-only
    assert operator.post(reverse("admin:booking_waitlistentry_add")).status_code == 403
