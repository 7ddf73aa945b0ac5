"""Catalog API: shapes, ordering, errors and a fixed number of queries per call."""

from datetime import timedelta

import pytest
from django.utils import timezone

from booking.models import SeatStatus
from booking.tests.factories import (
    ConcertFactory,
    ScheduleFactory,
    SeatFactory,
    schedule_with_seats,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def concert_with_seats():
    concert = ConcertFactory()
    soon = ScheduleFactory(concert=concert, starts_at=timezone.now() + timedelta(days=2))
    later = ScheduleFactory(concert=concert, starts_at=timezone.now() + timedelta(days=9))
    ScheduleFactory(concert=concert, starts_at=timezone.now() - timedelta(days=1))  # past
    full = ScheduleFactory(concert=concert, starts_at=timezone.now() + timedelta(days=5))
    for n in (3, 1, 2):
        SeatFactory(schedule=soon, number=n, price=1000 * n)
    SeatFactory(schedule=soon, number=4, status=SeatStatus.SOLD)
    SeatFactory(
        schedule=soon,
        number=5,
        status=SeatStatus.HELD,
        held_until=timezone.now() + timedelta(minutes=5),
    )
    # A hold that has run out counts as free even before any sweep.
    SeatFactory(
        schedule=later,
        number=1,
        status=SeatStatus.HELD,
        held_until=timezone.now() - timedelta(seconds=1),
    )
    SeatFactory(schedule=full, number=1, status=SeatStatus.SOLD)
    return concert, soon, later


def test_concert_list_is_public_and_paginated(api_client, django_assert_num_queries):
    concerts = [ConcertFactory() for _ in range(25)]
    ScheduleFactory(concert=concerts[0], starts_at=timezone.now() + timedelta(days=3))
    first = ScheduleFactory(concert=concerts[0], starts_at=timezone.now() + timedelta(days=1))
    ScheduleFactory(concert=concerts[0], starts_at=timezone.now() - timedelta(days=1))

    with django_assert_num_queries(2):  # count + page
        response = api_client.get("/api/concerts")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 25
    assert len(body["results"]) == 20
    head = body["results"][0]
    assert set(head) == {"id", "title", "performer", "venue", "next_date"}
    assert head["id"] == concerts[0].id
    assert head["next_date"].startswith(first.starts_at.strftime("%Y-%m-%dT%H:%M"))
    assert body["results"][1]["next_date"] is None
    assert len(api_client.get("/api/concerts?page=2").json()["results"]) == 5


def test_available_dates(admitted_client, concert_with_seats, django_assert_num_queries):
    concert, soon, later = concert_with_seats
    with django_assert_num_queries(1):  # the dates; the existence check runs only when empty
        response = admitted_client.get(f"/api/concerts/{concert.id}/available-dates")
    assert response.status_code == 200, response.content
    assert response.json() == [
        {
            "schedule_id": soon.id,
            "concert_id": concert.id,
            "starts_at": response.json()[0]["starts_at"],
            "available_seats": 3,
        },
        {
            "schedule_id": later.id,
            "concert_id": concert.id,
            "starts_at": response.json()[1]["starts_at"],
            "available_seats": 1,
        },
    ]


def test_available_seats_sorted_by_number(admitted_client, concert_with_seats):
    concert, soon, _ = concert_with_seats
    response = admitted_client.get(
        f"/api/concerts/{concert.id}/schedules/{soon.id}/available-seats"
    )
    assert response.status_code == 200
    rows = response.json()
    assert [r["number"] for r in rows] == [1, 2, 3]
    assert set(rows[0]) == {"seat_id", "number", "row", "price"}
    assert rows[2]["price"] == 3000


def test_catalog_bodies_are_what_a_response_of_the_selector_renders(
    admitted_client, concert_with_seats
):
    """The cache keeps the JSON body rendered; it must be byte for byte what DRF would render."""
    from rest_framework.renderers import JSONRenderer

    from booking import selectors

    concert, soon, _ = concert_with_seats
    expected = {
        f"/api/concerts/{concert.id}/available-dates": selectors.concert_available_dates(
            concert_id=concert.id
        ),
        f"/api/concerts/{concert.id}/schedules/{soon.id}/available-seats": (
            selectors.schedule_available_seats(concert_id=concert.id, schedule_id=soon.id)
        ),
    }
    for url, value in expected.items():
        for _ in range(2):  # computed, then from the cache
            response = admitted_client.get(url)
            assert response["Content-Type"] == "application/json"
            assert response.content == JSONRenderer().render(value)


def test_available_seats_query_count_is_fixed(admitted_client, django_assert_num_queries):
    schedule = schedule_with_seats(59)
    url = f"/api/concerts/{schedule.concert_id}/schedules/{schedule.id}/available-seats"
    # On a miss: schedule check, seats, earliest live hold; however many seats there are.
    with django_assert_num_queries(3):
        assert len(admitted_client.get(url).json()) == 59
    with django_assert_num_queries(0):  # then from Redis
        assert len(admitted_client.get(url).json()) == 59


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/api/concerts/999999/available-dates", 404, "concert_not_found"),
        ("/api/concerts/abc/available-dates", 404, "not_found"),
        ("/api/concerts/-1/available-dates", 404, "not_found"),
        ("/api/concerts/99999999999999999999999/available-dates", 404, "not_found"),
        ("/api/concerts/{concert}/schedules/999999/available-seats", 404, "schedule_not_found"),
        ("/api/concerts/{concert}/schedules/{other}/available-seats", 404, "schedule_not_found"),
        ("/api/concerts/{concert}/schedules/x/available-seats", 404, "not_found"),
        ("/api/nowhere", 404, "not_found"),
        ("/api/concerts?page=999", 404, "not_found"),
        ("/api/concerts?page=abc", 404, "not_found"),
        ("/api/concerts?page=+1", 404, "not_found"),
        ("/api/concerts?page=last", 404, "not_found"),
        ("/api/concerts?page_size=0", 400, "invalid"),
        ("/api/concerts?page_size=101", 400, "invalid"),
        ("/api/reservations?page_size=x", 400, "invalid"),
    ],
)
def test_catalog_errors(admitted_client, url, status, code):
    concert = ConcertFactory()
    other = ScheduleFactory()  # belongs to a different concert
    response = admitted_client.get(url.format(concert=concert.id, other=other.id))
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["detail"]


def test_gated_reads_need_authentication(api_client):
    concert = ConcertFactory()
    response = api_client.get(f"/api/concerts/{concert.id}/available-dates")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Token")


def test_wrong_method_is_405_json(auth_client):
    response = auth_client.post("/api/concerts", {}, format="json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_openapi_schema_and_offline_docs(api_client):
    schema = api_client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"] if schema["Content-Type"].endswith("json") else None
    if paths is None:
        import yaml

        paths = yaml.safe_load(schema.content)["paths"]
    for path in (
        "/api/concerts",
        "/api/concerts/{concert_id}/available-dates",
        "/api/concerts/{concert_id}/schedules/{schedule_id}/available-seats",
        "/api/auth/token",
    ):
        assert path in paths
    docs = api_client.get("/api/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()  # assets come from the sidecar, served by the app
