"""Pages for a party: picking several seats or the best N together on the seat map, holding
them in one go, and paying them all from one checkout."""

import re

import pytest
from django.urls import reverse

from booking.models import Reservation, Seat, SeatStatus
from booking.services import schedule_seats_generate
from booking.tests.factories import tour_date
from payments.models import Payment
from payments.selectors import wallet_balance
from payments.services import wallet_charge

pytestmark = pytest.mark.django_db


@pytest.fixture
def schedule():
    schedule = tour_date()
    schedule_seats_generate(
        schedule=schedule, rows=3, seats_per_row=8, tiers=[("VIP", 1, 150_000), ("R", 2, 90_000)]
    )
    return schedule


def seat_map(client, schedule, **query) -> str:
    response = client.get(reverse("booking-seat-map", args=[schedule.pk]), query)
    assert response.status_code == 200
    return response.content.decode()


def test_the_map_offers_best_available_and_picking_several(client_in, schedule):
    page = seat_map(client_in, schedule)
    assert 'name="together"' in page and 'max="4"' in page
    assert "?pick=1" in page
    assert 'name="seat_ids"' not in page  # one click per seat until asked

    page = seat_map(client_in, schedule, pick=1)
    assert page.count('type="checkbox" name="seat_ids"') == 24
    assert " checked" not in page
    assert re.search(r"data-picked-count>0<", page)
    assert "seat-pick.js" in page


def test_best_available_together_preselects_the_seats(
    client_in, schedule, django_assert_num_queries
):
    client_in.get(reverse("home"))  # warm the session
    # date, seats, and the one statement of best available
    with django_assert_num_queries(3):
        page = seat_map(client_in, schedule, together=3)
    checked = re.findall(r'value="(\d+)" data-price="\d+" aria-label="([^"]+)" checked', page)
    assert [label for _, label in checked] == [
        "Row A, seat 3, VIP, 150,000",
        "Row A, seat 4, VIP, 150,000",
        "Row A, seat 5, VIP, 150,000",
    ]
    assert "data-picked-count>3<" in page and "data-picked-total>450,000<" in page


@pytest.mark.parametrize("together", ["0", "5", "abc", ""])
def test_a_bad_party_size_explains_itself(client_in, schedule, together):
    page = seat_map(client_in, schedule, together=together)
    assert "count must be a whole number from 1 to 4." in page
    assert " checked" not in page


def test_no_seats_together_says_so(client_in, schedule):
    Seat.objects.filter(schedule=schedule, number__in=[3, 6, 11, 14, 19, 22]).update(
        status=SeatStatus.SOLD
    )
    page = seat_map(client_in, schedule, together=3)
    assert "No 3 free seats are side by side in one row" in page
    assert " checked" not in page


def test_holding_picked_seats_goes_to_a_checkout_of_the_party(
    client_in, user, schedule, django_capture_on_commit_callbacks
):
    picked = list(
        Seat.objects.filter(schedule=schedule, number__in=[4, 5, 6]).values_list("pk", flat=True)
    )
    response = client_in.post(
        reverse("booking-seat-hold", args=[schedule.pk]), {"seat_ids": picked}
    )
    assert response.status_code == 302
    held = list(Reservation.objects.filter(user=user).order_by("seat__number"))
    assert len(held) == 3
    assert response["Location"] == reverse("booking-checkout", args=[held[0].pk])

    wallet_charge(user=user, amount=500_000)
    page = client_in.get(response["Location"]).content.decode()
    assert "Your 3 seats" in page
    for number in (4, 5, 6):
        assert f"Row A, seat {number}" in page
    assert "data-total>450,000<" in page and "Pay all 450,000" in page
    posted = re.findall(r'name="reservation_ids" value="(\d+)"', page)
    assert posted == [str(r.pk) for r in held]
    key = re.search(r'name="idempotency_key" value="(page-[0-9a-f]+)"', page).group(1)

    pay_url = reverse("booking-pay", args=[held[0].pk])
    with django_capture_on_commit_callbacks(execute=True):
        paid = client_in.post(pay_url, {"idempotency_key": key, "reservation_ids": posted})
    assert paid["Location"] == reverse("tickets")
    assert Payment.objects.filter(user=user).count() == 3
    assert wallet_balance(user_id=user.pk) == 50_000

    # The slot went back with the last hold; the same form sent again only replays.
    again = client_in.post(pay_url, {"idempotency_key": key, "reservation_ids": posted})
    assert again["Location"] == reverse("tickets")
    assert wallet_balance(user_id=user.pk) == 50_000
    tickets = client_in.get(reverse("tickets")).content.decode()
    assert tickets.count("badge--paid") == 3


def test_a_taken_seat_in_the_picks_holds_none(client_in, user, other_user, schedule):
    from booking.services import reservation_hold

    picked = list(
        Seat.objects.filter(schedule=schedule, number__in=[4, 5]).values_list("pk", flat=True)
    )
    reservation_hold(user=other_user, seat_id=picked[1])
    response = client_in.post(
        reverse("booking-seat-hold", args=[schedule.pk]), {"seat_ids": picked}, follow=True
    )
    assert "1 of these seats is already taken; none was held." in response.content.decode()
    assert response.redirect_chain[-1][0].endswith("?pick=1")
    assert not Reservation.objects.filter(user=user).exists()


@pytest.mark.parametrize("values", [["abc"], ["1", "x"], ["0"]])
def test_odd_picks_explain_instead_of_failing(client_in, schedule, values):
    response = client_in.post(
        reverse("booking-seat-hold", args=[schedule.pk]), {"seat_ids": values}, follow=True
    )
    assert "Choose a seat first." in response.content.decode()
    assert not Reservation.objects.exists()


def test_too_many_picks_are_refused(client_in, schedule):
    picked = list(Seat.objects.filter(schedule=schedule).values_list("pk", flat=True)[:5])
    response = client_in.post(
        reverse("booking-seat-hold", args=[schedule.pk]), {"seat_ids": picked}, follow=True
    )
    assert "At most 4 seats can be held at once." in response.content.decode()
    assert not Reservation.objects.exists()


def test_releasing_one_seat_of_a_party_keeps_the_rest_at_checkout(client_in, user, schedule):
    picked = list(
        Seat.objects.filter(schedule=schedule, number__in=[1, 2, 3]).values_list("pk", flat=True)
    )
    client_in.post(reverse("booking-seat-hold", args=[schedule.pk]), {"seat_ids": picked})
    held = list(Reservation.objects.filter(user=user).order_by("seat__number"))
    page = client_in.get(reverse("booking-checkout", args=[held[1].pk])).content.decode()
    assert 'aria-label="Release row A, seat 2"' in page and "Release this seat" not in page

    released = client_in.post(reverse("booking-release", args=[held[0].pk]))
    assert released["Location"] == reverse("booking-checkout", args=[held[1].pk])
    page = client_in.get(released["Location"]).content.decode()
    assert "Your 2 seats" in page and "Pay all 300,000" in page
    assert page.count('name="reservation_ids"') == 2
    assert Seat.objects.get(pk=picked[0]).status == SeatStatus.AVAILABLE


def test_a_hold_in_its_last_second_is_left_out_of_the_party(client_in, user, schedule):
    from datetime import timedelta

    from django.utils import timezone

    picked = list(
        Seat.objects.filter(schedule=schedule, number__in=[1, 2, 3]).values_list("pk", flat=True)
    )
    client_in.post(reverse("booking-seat-hold", args=[schedule.pk]), {"seat_ids": picked})
    held = list(Reservation.objects.filter(user=user).order_by("seat__number"))
    Reservation.objects.filter(pk=held[0].pk).update(
        expires_at=timezone.now() + timedelta(milliseconds=500)
    )
    page = client_in.get(reverse("booking-checkout", args=[held[1].pk])).content.decode()
    assert "Your 2 seats" in page and "Pay all 300,000" in page
    # Its own checkout says it is over rather than counting down from nothing.
    page = client_in.get(reverse("booking-checkout", args=[held[0].pk])).content.decode()
    assert "Your hold on this seat has expired" in page
    assert 'name="reservation_ids"' not in page
