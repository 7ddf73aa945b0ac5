"""An operator deletes a seat that carries a live waiting-list offer: the offer's reservation and
its entry go with the seat (an offered entry never stands without its offer), and every other
entry stays as it was."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from booking import services
from booking.models import Reservation, Seat, WaitlistEntry, WaitlistStatus
from booking.tests.factories import UserFactory
from booking.tests.test_waitlist import sold_out

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    user = get_user_model().objects.create_superuser("op", "op@example.com", "op-pass-123")
    client = Client()
    client.force_login(user)
    client.get(reverse("admin:index"))  # the first request also warms the session
    return client


def _offered_date() -> tuple[WaitlistEntry, WaitlistEntry]:
    """A sold-out date with two in line; a released hold offers its seat to the first.
    (the offered entry, the waiting one)."""
    schedule, holds = sold_out()
    first, second = UserFactory.create_batch(2)
    services.waitlist_join(user=first, schedule_id=schedule.pk)
    services.waitlist_join(user=second, schedule_id=schedule.pk)
    released = holds[0]
    services.reservation_cancel(
        user=Reservation.objects.get(pk=released["reservation_id"]).user,
        reservation_id=released["reservation_id"],
    )
    offered = WaitlistEntry.objects.select_related("offer").get(user=first)
    assert offered.status == WaitlistStatus.OFFERED
    waiting = WaitlistEntry.objects.get(user=second)
    assert waiting.status == WaitlistStatus.WAITING
    return offered, waiting


def _entries(*entries: WaitlistEntry) -> list[dict]:
    return list(
        WaitlistEntry.objects.filter(pk__in=[e.pk for e in entries]).order_by("pk").values()
    )


def _gone(offered: WaitlistEntry) -> None:
    assert not Seat.objects.filter(pk=offered.offer.seat_id).exists()
    assert not Reservation.objects.filter(pk=offered.offer_id).exists()
    assert not Reservation.objects.filter(seat_id=offered.offer.seat_id).exists()
    assert not WaitlistEntry.objects.filter(pk=offered.pk).exists()


def test_deleting_the_seat_takes_the_offer_and_its_entry_with_it():
    offered, waiting = _offered_date()
    elsewhere, elsewhere_waiting = _offered_date()
    untouched = _entries(waiting, elsewhere, elsewhere_waiting)
    Seat.objects.filter(pk=offered.offer.seat_id).delete()
    _gone(offered)
    assert _entries(waiting, elsewhere, elsewhere_waiting) == untouched
    assert Reservation.objects.filter(pk=elsewhere.offer_id).exists()


def test_the_console_refuses_to_delete_a_seat_with_an_offer_and_changes_nothing(operator):
    """Reservations and waiting-list entries are never deleted in the console, so neither is a
    seat that has them: the confirmation page says so and its POST is 403, not an error."""
    offered, waiting = _offered_date()
    before = _entries(offered, waiting)
    url = reverse("admin:booking_seat_delete", args=[offered.offer.seat_id])
    page = operator.get(url)
    assert page.status_code == 200
    assert "Cannot delete seat" in page.content.decode()
    assert operator.post(url, {"post": "yes"}).status_code == 403
    selected = operator.post(
        reverse("admin:booking_seat_changelist"),
        {"action": "delete_selected", "_selected_action": [offered.offer.seat_id], "post": "yes"},
    )
    assert selected.status_code == 403
    assert Seat.objects.filter(pk=offered.offer.seat_id).exists()
    assert Reservation.objects.filter(pk=offered.offer_id).exists()
    assert _entries(offered, waiting) == before
