"""Buyer pages: sign up, log in, catalog pages, the seat map, odd input and CSRF."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from booking import selectors
from booking.models import SeatStatus
from booking.services import schedule_seats_generate
from booking.tests.factories import ConcertFactory, ScheduleFactory, SeatFactory, tour_date
from queueing.testing import admit, page_client, session_token_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def schedule():
    return tour_date()


def _seats(schedule):
    """Row A: free, held, held-but-expired, sold; row B: two free seats at another price."""
    now = timezone.now()
    SeatFactory(schedule=schedule, number=1, row="A", tier="VIP", price=150_000)
    SeatFactory(
        schedule=schedule,
        number=2,
        row="A",
        tier="VIP",
        price=150_000,
        status=SeatStatus.HELD,
        held_until=now + timedelta(minutes=4),
    )
    SeatFactory(
        schedule=schedule,
        number=3,
        row="A",
        tier="VIP",
        price=150_000,
        status=SeatStatus.HELD,
        held_until=now - timedelta(seconds=1),
    )
    SeatFactory(
        schedule=schedule, number=4, row="A", tier="VIP", price=150_000, status=SeatStatus.SOLD
    )
    SeatFactory(schedule=schedule, number=5, row="B", tier="S", price=80_000)
    SeatFactory(schedule=schedule, number=6, row="B", tier="S", price=80_000)


# --- Accounts ------------------------------------------------------------------------------


@pytest.fixture
def no_signup_proof(settings):
    """These sign-ups are not about the proof of work (accounts/tests/test_signup_proof.py)."""
    settings.SIGNUP_CHALLENGE_ENABLED = False


@pytest.mark.usefixtures("no_signup_proof")
def test_signup_creates_the_user_and_signs_them_in():
    client = Client()
    response = client.post(
        reverse("signup"),
        {
            "username": "carol",
            "email": "carol@example.com",
            "password1": "a-long-pass-phrase-42",
            "password2": "a-long-pass-phrase-42",
            "next": "/concerts/1",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/concerts/1"
    user = get_user_model().objects.get(username="carol")
    assert user.email == "carol@example.com"
    assert user.check_password("a-long-pass-phrase-42")
    assert int(client.session["_auth_user_id"]) == user.pk


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"username": "alice", "password1": "x-long-pass-9", "password2": "x-long-pass-9"},
            "exists",
        ),
        ({"username": "dave", "password1": "x-long-pass-9", "password2": "other-pass-9"}, "match"),
        ({"username": "dave", "password1": "123", "password2": "123"}, "too short"),
        ({"username": "bad name!", "password1": "x-long-pass-9", "password2": "x-long-pass-9"}, ""),
        ({"username": "x" * 500, "password1": "x-long-pass-9", "password2": "x-long-pass-9"}, ""),
        ({}, "required"),
    ],
)
@pytest.mark.usefixtures("no_signup_proof")
def test_signup_explains_what_is_wrong(user, data, message):
    response = Client().post(reverse("signup"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert get_user_model().objects.count() == 1


@pytest.mark.usefixtures("no_signup_proof")
def test_signup_ignores_a_next_pointing_elsewhere():
    response = Client().post(
        reverse("signup"),
        {
            "username": "erin",
            "password1": "a-long-pass-phrase-42",
            "password2": "a-long-pass-phrase-42",
            "next": "https://evil.example/",
        },
    )
    assert response["Location"] == reverse("home")


def test_login_and_logout(user):
    client = Client()
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session
    page = client.get(reverse("home")).content.decode()
    assert "alice" in page and "Log out" in page

    wrong = Client().post(reverse("login"), {"username": "alice", "password": "nope"})
    assert wrong.status_code == 200
    assert "correct username and password" in wrong.content.decode()

    assert client.get(reverse("logout")).status_code == 405  # a link cannot sign anyone out
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("signup", {"username": "x", "password1": "a-long-pass-1", "password2": "a-long-pass-1"}),
        ("login", {"username": "alice", "password": "pw-alice-123"}),
        ("logout", {}),
    ],
)
def test_every_account_form_requires_csrf(user, name, data):
    client = Client(enforce_csrf_checks=True)
    assert client.post(reverse(name), data).status_code == 403
    page = client.get(reverse("signup")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


# --- Catalog pages -------------------------------------------------------------------------


def test_home_lists_concerts_with_their_next_dates(django_assert_num_queries):
    now = timezone.now()
    for i in range(5):
        concert = ConcertFactory(title=f"Show {i}")
        for d in range(4):
            ScheduleFactory(concert=concert, starts_at=now + timedelta(days=1 + d + i))
        ScheduleFactory(concert=concert, starts_at=now - timedelta(days=2))
    ConcertFactory(title="No dates at all")
    client = Client()
    # Count, page, dates: fixed whatever the number of concerts and dates.
    with django_assert_num_queries(3):
        response = client.get(reverse("home"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Show 4" in page and "No upcoming dates" in page
    # At most three dates per concert, never a past one.
    assert page.count("<time") == 5 * 3


def test_concert_page_offers_the_queue(user, schedule):
    url = reverse("concert-detail", args=[schedule.concert_id])
    anonymous = Client().get(url).content.decode()
    assert "Velvet Tides Tour" in anonymous and "Log in to join the queue" in anonymous

    client = Client()
    client.force_login(user)
    page = client.get(url).content.decode()
    assert "Join the queue" in page
    protected_forms = re.findall(
        r'<form method="post" action="([^"]*)"[^>]*>\s*'
        r'<input type="hidden" name="csrfmiddlewaretoken"',
        page,
    )
    assert reverse("queue-join") in protected_forms
    assert f'name="next" value="/book/concerts/{schedule.concert_id}/dates"' in page


def test_booking_pages_need_an_account_and_a_turn(user, schedule):
    for url in (
        reverse("booking-dates", args=[schedule.concert_id]),
        reverse("booking-seat-map", args=[schedule.pk]),
    ):
        response = Client().get(url, follow=True)
        assert response.redirect_chain[-1][0].startswith(reverse("login"))
        response = page_client(user, admitted=False).get(url, follow=True)
        assert response.redirect_chain[-1][0].startswith(reverse("queue-waiting-room"))
        assert "Join the queue" in response.content.decode()


def test_dates_page_shows_free_counts_and_sold_out_dates(client_in, schedule):
    _seats(schedule)
    sold_out = ScheduleFactory(
        concert=schedule.concert, starts_at=timezone.now() + timedelta(days=9)
    )
    SeatFactory(schedule=sold_out, number=1, status=SeatStatus.SOLD)
    page = client_in.get(reverse("booking-dates", args=[schedule.concert_id])).content.decode()
    assert "4 seats left" in page  # 1, 3 (expired hold), 5, 6
    assert "Sold out" in page
    assert reverse("booking-seat-map", args=[schedule.pk]) in page
    assert reverse("booking-seat-map", args=[sold_out.pk]) not in page


def test_seat_map_selector_gives_every_seat_its_effective_status(schedule):
    _seats(schedule)
    seat_map = selectors.schedule_seat_map(schedule_id=schedule.pk)
    assert [row["label"] for row in seat_map["rows"]] == ["A", "B"]
    statuses = [seat["status"] for row in seat_map["rows"] for seat in row["seats"]]
    assert statuses == ["available", "held", "available", "sold", "available", "available"]
    assert seat_map["counts"] == {"available": 4, "held": 1, "sold": 1}
    assert [(t["tier"], t["price"]) for t in seat_map["tiers"]] == [("VIP", 150_000), ("S", 80_000)]


def test_seat_map_page(client_in, schedule):
    _seats(schedule)
    page = client_in.get(reverse("booking-seat-map", args=[schedule.pk])).content.decode()
    free = re.findall(r'<button type="submit" name="seat_id" value="(\d+)"', page)
    assert len(free) == 4
    assert page.count("seat seat--held") == 1 and page.count("seat seat--sold") == 1
    assert 'aria-label="Row A, seat 1, VIP, 150,000"' in page
    assert "150,000" in page and "80,000" in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_seat_map_costs_the_same_queries_for_any_size(
    client_in, schedule, django_assert_num_queries
):
    schedule_seats_generate(schedule=schedule, rows=4, seats_per_row=5, tiers=None)
    big = ScheduleFactory(concert=schedule.concert)
    schedule_seats_generate(schedule=big, rows=30, seats_per_row=40, tiers=None)
    client_in.get(reverse("home"))  # warm the session
    counts = []
    for target in (schedule, big):
        # date, seats (the session comes from Redis, its user from this worker's memory)
        with django_assert_num_queries(2) as captured:
            response = client_in.get(reverse("booking-seat-map", args=[target.pk]))
        assert response.status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]
    assert response.content.decode().count('name="seat_id"') == 1200


def test_a_past_date_shows_its_map_without_seats_for_sale(client_in):
    past = ScheduleFactory(starts_at=timezone.now() - timedelta(days=1))
    SeatFactory(schedule=past, number=1)
    page = client_in.get(reverse("booking-seat-map", args=[past.pk])).content.decode()
    assert "already taken place" in page
    assert 'name="seat_id"' not in page


@pytest.mark.parametrize(
    "path",
    [
        "/concerts/0",
        "/concerts/999999999999999999",
        "/concerts/99999999999999999999999999",
        "/concerts/abc",
        "/concerts/-1",
        "/concerts/1%00",
        "/book/concerts/0/dates",
        "/book/concerts/999999999999999999/dates",
        "/book/concerts/%F0%9F%8E%B5/dates",
        "/book/schedules/0/seats",
        "/book/schedules/999999999999999999/seats",
        "/book/schedules/1e9/seats",
        "/no/such/page",
    ],
)
def test_odd_paths_are_friendly_404s(client_in, path):
    response = client_in.get(path)
    assert response.status_code == 404
    assert "Not found" in response.content.decode()


@pytest.mark.parametrize("page", ["abc", "-1", "0", "99999999999999999999999", "1.5", "%00"])
def test_odd_page_numbers_still_answer(page):
    ConcertFactory()
    assert Client().get(f"/?page={page}").status_code == 200


def test_a_missing_concert_names_itself(client_in):
    response = client_in.get("/concerts/424242")
    assert response.status_code == 404
    assert "No such concert." in response.content.decode()


# --- Waiting room --------------------------------------------------------------------------


def test_joining_waits_behind_earlier_people_then_moves_on(user, other_user, schedule):
    from queueing.services import queue_promote, queue_token_issue

    queue_token_issue(user_id=other_user.pk)  # someone arrived first
    client = page_client(user, admitted=False)
    dates = reverse("booking-dates", args=[schedule.concert_id])
    response = client.post(reverse("queue-join"), {"next": dates})
    assert response["Location"] == reverse("queue-waiting-room")

    page = client.get(reverse("queue-waiting-room")).content.decode()
    assert 'data-field="position">2<' in page
    assert 'data-field="ahead">1<' in page
    assert 'role="progressbar"' in page and "Leave the queue" in page
    assert f'data-status-url="{reverse("api-queue-token-current")}"' in page
    assert '<noscript><meta http-equiv="refresh"' in page
    assert client.get(dates).status_code == 302  # still waiting: the gate sends it back

    queue_promote()
    response = client.get(reverse("queue-waiting-room"))
    assert response.status_code == 302 and response["Location"] == dates
    assert client.get(dates).status_code == 200
    # The page's script polls the JSON status with the session; it says the same.
    status = client.get(reverse("api-queue-token-current")).json()
    assert status["status"] == "active"


def test_leaving_the_queue_is_one_click(user):
    client = page_client(user, admitted=False)
    client.post(reverse("queue-join"), {"next": "/"})
    response = client.post(reverse("queue-leave"), follow=True)
    assert "You have left the queue." in response.content.decode()
    page = client.get(reverse("queue-waiting-room")).content.decode()
    assert "You need a place in the queue" in page


def test_a_lost_place_can_be_taken_again(user):
    client = page_client(user, admitted=False)
    session = client.session
    session_token_set(session, "forged-or-expired-token")
    session.save()
    page = client.get(reverse("queue-waiting-room")).content.decode()
    assert "Your place has expired" in page and "Join the queue again" in page


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "x" * 5000]
)
def test_join_never_sends_people_off_site(user, target):
    client = page_client(user, admitted=False)
    client.post(reverse("queue-join"), {"next": target})
    client.get(reverse("queue-waiting-room"), {"next": target})
    from queueing.services import queue_promote

    queue_promote()
    response = client.get(reverse("queue-waiting-room"))
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_queue_forms_require_csrf(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(reverse("queue-join"), {"next": "/"}).status_code == 403
    assert client.post(reverse("queue-leave")).status_code == 403


# --- Holding a seat (checkout, paying and tickets: payments/tests/test_pages.py) -----------


def _free_seat(schedule, number: int, price: int = 100_000):
    return SeatFactory(schedule=schedule, number=number, row="A", tier="VIP", price=price)


@pytest.mark.parametrize("seat_id", ["", "abc", "0", "-3", "1.5", "9" * 30, "\x00"])
def test_holding_odd_seat_ids_explains_instead_of_failing(client_in, schedule, seat_id):
    response = client_in.post(
        reverse("booking-seat-hold", args=[schedule.pk]), {"seat_id": seat_id}, follow=True
    )
    assert response.status_code == 200
    assert "Choose a seat first." in response.content.decode()


def test_holding_an_unknown_seat_and_the_hold_limit_are_friendly(client_in, schedule, settings):
    settings.HOLD_LIMIT_PER_USER = 1
    first, second = _free_seat(schedule, 1), _free_seat(schedule, 2)
    url = reverse("booking-seat-hold", args=[schedule.pk])
    unknown = client_in.post(url, {"seat_id": "999999999999"}, follow=True)
    assert "No such seat." in unknown.content.decode()
    client_in.post(url, {"seat_id": first.pk})
    limited = client_in.post(url, {"seat_id": second.pk}, follow=True)
    assert "the most allowed at once" in limited.content.decode()
    second.refresh_from_db()
    assert second.status == SeatStatus.AVAILABLE


def test_holding_a_seat_requires_csrf(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    session = client.session
    session_token_set(session, admit(user))
    session.save()
    assert client.post(reverse("booking-seat-hold", args=[1]), {"seat_id": "1"}).status_code == 403


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("login", {"username": "al\x00ice", "password": "x\x00"}),
        ("signup", {"username": "x\x00", "password1": "a\x00b", "password2": "a\x00b"}),
        ("signup", {"username": "z" * 100_000, "password1": "p" * 100_000, "password2": "p"}),
        ("queue-join", {"next": "/\x00"}),
    ],
)
def test_odd_form_input_never_fails(user, name, data):
    client = Client()
    if name == "queue-join":
        client.force_login(user)
    response = client.post(reverse(name), data)
    assert response.status_code in (200, 302)


@pytest.mark.parametrize("next_value", ["\x00", "/" + "a" * 10_000, "%ZZ", "/book/../admin/"])
def test_odd_waiting_room_links_never_fail(user, next_value):
    client = page_client(user, admitted=False)
    assert client.get(reverse("queue-waiting-room"), {"next": next_value}).status_code == 200
