"""Waiting-list pages: a buyer joins and leaves outside the queue, and sees a seat held for them."""

import pytest
from django.urls import reverse

from booking import services
from booking.models import Reservation, WaitlistEntry, WaitlistStatus
from booking.tests.factories import UserFactory, schedule_with_seats
from booking.tests.test_waitlist import sold_out
from queueing.testing import page_client

pytestmark = pytest.mark.django_db


def test_join_and_leave_from_the_waitlist_page_without_queueing(user):
    schedule, holds = sold_out()
    open_date = schedule_with_seats(1, concert=schedule.concert)
    client = page_client(user, admitted=False)
    url = reverse("waitlist", args=[schedule.concert_id])

    page = client.get(url).content.decode()
    assert page.count("Join the waiting list") == 1  # the sold-out date only
    assert "1 seat left" in page
    assert reverse("waitlist-join", args=[schedule.pk]) in page
    assert reverse("waitlist-join", args=[open_date.pk]) not in page

    joined = client.post(reverse("waitlist-join", args=[schedule.pk]), {"next": url}, follow=True)
    assert "number 1 in line" in joined.content.decode()
    assert WaitlistEntry.objects.get(user=user).status == WaitlistStatus.WAITING
    assert "Leave the waiting list" in joined.content.decode()

    # A seat comes back: the page and My tickets show it held, with the way to pay.
    released = holds[0]
    services.reservation_cancel(
        user=Reservation.objects.get(pk=released["reservation_id"]).user,
        reservation_id=released["reservation_id"],
    )
    offer = WaitlistEntry.objects.get(user=user).offer
    checkout = reverse("booking-checkout", args=[offer.pk])
    for shown in (url, reverse("tickets")):
        page = client.get(shown).content.decode()
        assert "A seat is held for you until" in page
        assert checkout in page

    left = client.post(reverse("waitlist-leave", args=[schedule.pk]), {"next": url}, follow=True)
    assert "You have left the waiting list" in left.content.decode()
    assert WaitlistEntry.objects.get(user=user).status == WaitlistStatus.LEFT


def test_refusals_are_messages_and_change_nothing(user):
    schedule = schedule_with_seats(1)
    client = page_client(user, admitted=False)
    url = reverse("waitlist", args=[schedule.concert_id])
    joined = client.post(reverse("waitlist-join", args=[schedule.pk]), {"next": url}, follow=True)
    assert "still has free seats" in joined.content.decode()
    left = client.post(reverse("waitlist-leave", args=[schedule.pk]), {"next": url}, follow=True)
    assert "not on this date" in left.content.decode()
    # A foreign `next` is not followed.
    away = client.post(
        reverse("waitlist-join", args=[schedule.pk]), {"next": "https://evil.example/"}
    )
    assert away.url == reverse("tickets")
    assert not WaitlistEntry.objects.exists()


def test_the_waitlist_page_needs_a_sign_in_and_a_real_concert(client, user):
    schedule, _ = sold_out()
    url = reverse("waitlist", args=[schedule.concert_id])
    assert client.get(url).url.startswith(reverse("login"))
    assert client.post(reverse("waitlist-join", args=[schedule.pk])).status_code == 302
    assert not WaitlistEntry.objects.exists()
    signed_in = page_client(user, admitted=False)
    assert signed_in.get(reverse("waitlist", args=[10**9])).status_code == 404


def test_sold_out_dates_point_to_the_waiting_list(user, client_in):
    schedule, _ = sold_out()
    dates = client_in.get(reverse("booking-dates", args=[schedule.concert_id])).content.decode()
    assert "Sold out — join the waiting list" in dates
    seat_map = client_in.get(reverse("booking-seat-map", args=[schedule.pk])).content.decode()
    assert "Sold out — join the waiting list" in seat_map
    assert reverse("waitlist-join", args=[schedule.pk]) in seat_map
    concert = page_client(user, admitted=False).get(
        reverse("concert-detail", args=[schedule.concert_id])
    )
    assert reverse("waitlist", args=[schedule.concert_id]) in concert.content.decode()


def test_the_waitlist_page_costs_a_fixed_number_of_queries(user, django_assert_num_queries):
    client = page_client(user, admitted=False)
    schedule, _ = sold_out()
    for _ in range(3):
        services.waitlist_join(user=user, schedule_id=sold_out_date_of(schedule.concert).pk)
    url = reverse("waitlist", args=[schedule.concert_id])
    client.get(url)  # the dates read is cached from here on
    # concert, the user's entries, the dates
    with django_assert_num_queries(3):
        assert client.get(url).status_code == 200


def sold_out_date_of(concert):
    schedule = schedule_with_seats(1, concert=concert)
    seat = schedule.seats.get()
    services.reservation_hold(user=UserFactory(), seat_id=seat.pk)
    return schedule
