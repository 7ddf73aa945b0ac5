"""The waiting room's pages and the concert page's sale panel, rendered by the test client."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from booking.tests.factories import ConcertFactory, ScheduleFactory, UserFactory
from queueing import store, tokens
from queueing.models import RoomMode
from queueing.selectors import room_of_concert
from queueing.services import (
    queue_token_issue,
    queue_token_leave,
    room_free_seats_update,
    room_save,
)
from queueing.testing import page_client
from queueing.web import SESSION_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def concert():
    concert = ConcertFactory(title="Velvet Tides Tour")
    ScheduleFactory(concert=concert, starts_at=timezone.now() + timedelta(days=5))
    return concert


@pytest.fixture
def buyer(user):
    return page_client(user, admitted=False)


def _join(client, concert):
    return client.post(
        reverse("queue-join"),
        {"concert_id": concert.pk, "next": reverse("booking-dates", args=[concert.pk])},
    )


def _in_two_rooms(buyer) -> tuple:
    """Two concerts with rooms of their own, the buyer waiting in both."""
    concerts = ConcertFactory(), ConcertFactory()
    for concert in concerts:
        ScheduleFactory(concert=concert)
        room_save(concert_id=concert.pk)
        _join(buyer, concert)
    return concerts


def _text(response) -> str:
    """The page's words, without tags or runs of white space."""
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _start_in(concert, **delta):
    room_save(concert_id=concert.pk, sale_starts_at=timezone.now() + timedelta(**delta))


def test_the_pre_queue_shows_the_countdown_draw_id_and_seed_hash(buyer, user, concert):
    _start_in(concert, minutes=10)
    response = _join(buyer, concert)
    assert response.status_code == 302
    assert response.url == reverse("queue-waiting-room")

    page = buyer.get(response.url)
    assert page.status_code == 200
    assert page.context["state"] == "scheduled"
    config = room_of_concert(concert.pk)
    draw_id = tokens.draw_id(room=config.name, user_id=user.pk)
    text = _text(page)
    assert "You are in the pre-queue" in text
    assert "random place in the queue" in text
    assert draw_id in text
    assert config.seed_sha256 in text
    assert config.seed not in text  # secret until the start
    assert 590 <= page.context["starts_in"] <= 600
    assert 'role="timer"' in page.content.decode()
    assert reverse("api-concert-queue", args=[concert.pk]) in page.content.decode()


def test_waiting_shows_position_and_the_chance_of_a_seat(buyer, concert):
    room_save(concert_id=concert.pk)
    room_free_seats_update(concert_id=concert.pk, free=1)
    # Someone ahead: one free seat for two people makes an even chance.
    queue_token_issue(user_id=UserFactory().pk, concert_id=concert.pk)
    _join(buyer, concert)

    page = buyer.get(reverse("queue-waiting-room"))
    assert page.context["state"] == "waiting"
    assert page.context["chance"] == 50
    text = _text(page)
    assert "You are in the queue" in text
    assert "Your position 2" in text
    assert "People ahead of you 1" in text
    assert "Chance of a seat 50%" in text
    # The figures that change sit in a live region.
    html = page.content.decode()
    assert re.search(r'aria-live="polite"[^>]*>\s*<dl class="waiting__figures">', html)


def test_a_room_that_counts_no_seats_shows_no_chance(buyer, concert):
    room_save(concert_id=concert.pk)
    _join(buyer, concert)
    page = buyer.get(reverse("queue-waiting-room"))
    assert page.context["state"] == "waiting"
    assert page.context["chance"] is None
    assert re.search(r'<div data-figure="chance" hidden>', page.content.decode())


def test_sold_out_keeps_the_place_and_keeps_checking(buyer, concert):
    room_save(concert_id=concert.pk)
    room_free_seats_update(concert_id=concert.pk, free=0)
    _join(buyer, concert)

    page = buyer.get(reverse("queue-waiting-room"))
    assert page.context["state"] == "sold_out"
    text = _text(page)
    assert "Sold out right now" in text
    assert "Every seat is sold or held" in text
    assert "Your place in the queue is kept" in text
    assert "keeps checking" in text
    assert "Your position 1" in text
    assert '<div data-figure="chance" hidden>' in page.content.decode()  # "sold out" says it
    assert "Leave the queue" in text
    # Without JavaScript the page still checks again by itself.
    assert 'http-equiv="refresh"' in page.content.decode()


def test_the_concert_page_counts_down_before_the_pre_queue_opens(buyer, concert, settings):
    _start_in(concert, minutes=settings.PREQUEUE_MINUTES + 60)
    page = buyer.get(reverse("concert-detail", args=[concert.pk]))
    text = _text(page)
    assert "Tickets on sale in" in text
    assert "The queue is not open yet" in text
    assert "The pre-queue opens at" in text
    assert page.context["sale"]["starts_in"] > page.context["sale"]["opens_in"] > 0
    assert "Join the" not in text  # no button yet
    assert "SHA-256" not in text  # the fingerprint is published when the pre-queue opens
    assert "data-countdown" in page.content.decode()


def test_a_visitor_may_log_in_before_the_pre_queue_opens(client, concert, settings):
    _start_in(concert, minutes=settings.PREQUEUE_MINUTES + 60)
    text = _text(client.get(reverse("concert-detail", args=[concert.pk])))
    assert "The queue is not open yet" in text
    assert "Log in now to be ready" in text


def test_the_concert_page_offers_the_pre_queue_with_the_seed_hash(buyer, concert):
    _start_in(concert, minutes=5)
    page = buyer.get(reverse("concert-detail", args=[concert.pk]))
    html = page.content.decode()
    text = _text(page)
    assert "Tickets on sale in" in text
    assert "Join the pre-queue" in text
    assert f'name="concert_id" value="{concert.pk}"' in html
    assert room_of_concert(concert.pk).seed_sha256 in text
    assert "How the draw is verified" in text
    assert reverse("api-concert-queue", args=[concert.pk]) in html


def test_the_concert_page_offers_the_queue_once_on_sale(buyer, concert):
    room_save(concert_id=concert.pk, sale_starts_at=timezone.now() - timedelta(minutes=1))
    page = buyer.get(reverse("concert-detail", args=[concert.pk]))
    text = _text(page)
    assert "Join the queue" in text
    assert "On sale since" in text
    assert "Tickets on sale in" not in text
    assert room_of_concert(concert.pk).seed in text  # published after the start


def test_a_concert_without_a_room_of_its_own_still_posts_its_id(buyer, concert):
    page = buyer.get(reverse("concert-detail", args=[concert.pk]))
    assert "Join the queue" in _text(page)
    assert f'name="concert_id" value="{concert.pk}"' in page.content.decode()
    assert "Tickets on sale in" not in _text(page)


def test_joining_before_the_pre_queue_opens_says_when_and_stores_nothing(buyer, concert):
    _start_in(concert, hours=2)
    response = _join(buyer, concert)
    assert response.status_code == 302
    assert response.url == reverse("concert-detail", args=[concert.pk])
    page = buyer.get(response.url)
    text = _text(page)
    assert "The queue for this concert is not open yet. It opens on" in text
    assert not re.search(r"\d{4}-\d\d-\d\dT", text)  # a time for people, not the API's
    assert not buyer.session.get(SESSION_KEY)
    figures = store.figures(room=room_of_concert(concert.pk).name)
    assert figures.waiting == 0 and figures.prequeued == 0


def test_joining_a_closed_room_says_so_and_stores_nothing(buyer, concert):
    room_save(concert_id=concert.pk, mode=RoomMode.CLOSED)
    page = buyer.get(reverse("concert-detail", args=[concert.pk]))
    assert "The queue for this concert is closed" in _text(page)
    assert "Join the queue" not in _text(page)

    response = _join(buyer, concert)
    assert response.url == reverse("concert-detail", args=[concert.pk])
    assert "This waiting room is closed" in _text(buyer.get(response.url))
    assert not buyer.session.get(SESSION_KEY)
    figures = store.figures(room=room_of_concert(concert.pk).name)
    assert figures.waiting == 0 and figures.active == 0


def test_a_lost_place_offers_the_same_concert_again(buyer, user, concert):
    room_save(concert_id=concert.pk)
    _join(buyer, concert)
    token = buyer.session[SESSION_KEY][room_of_concert(concert.pk).name]
    queue_token_leave(token=token, user_id=user.pk)
    page = buyer.get(reverse("queue-waiting-room"))
    assert page.context["state"] == "lost"
    assert f'name="concert_id" value="{concert.pk}"' in page.content.decode()


def test_a_buyer_in_two_rooms_goes_on_to_each_rooms_own_page(buyer, user):
    from queueing.selectors import room_of_concert
    from queueing.services import queue_promote

    first, second = _in_two_rooms(buyer)
    queue_promote(config=room_of_concert(first.pk))
    response = buyer.get(reverse("queue-waiting-room") + f"?concert={first.pk}")
    assert response.status_code == 302
    assert response["Location"] == reverse("booking-dates", args=[first.pk])
    # The other room still waits, and still leads to its own concert once admitted.
    assert buyer.get(reverse("queue-waiting-room") + f"?concert={second.pk}").status_code == 200
    queue_promote(config=room_of_concert(second.pk))
    response = buyer.get(reverse("queue-waiting-room") + f"?concert={second.pk}")
    assert response["Location"] == reverse("booking-dates", args=[second.pk])


def test_leaving_one_room_keeps_the_place_in_another(buyer, user):
    from queueing.selectors import queue_token_status

    first, second = _in_two_rooms(buyer)
    kept = buyer.session[SESSION_KEY][f"c{second.pk}"]
    page = buyer.get(reverse("queue-waiting-room") + f"?concert={first.pk}").content.decode()
    assert f'name="room" value="c{first.pk}"' in page
    buyer.post(reverse("queue-leave"), {"room": f"c{first.pk}"})
    assert set(buyer.session[SESSION_KEY]) == {f"c{second.pk}"}
    assert queue_token_status(token=kept, user_id=user.pk).status == "waiting"
