"""Best available N together: adjacent free seats in one row, the best tier first, then the row
nearest the stage, then the block nearest the row's centre."""

from datetime import timedelta

import pytest
from django.utils import timezone

from booking import selectors, services
from booking.models import Seat, SeatStatus
from booking.services import schedule_seats_generate
from booking.tests.factories import ScheduleFactory

pytestmark = pytest.mark.django_db

TIERS = [("VIP", 1, 300), ("R", 2, 200), ("S", 2, 100)]


@pytest.fixture
def schedule():
    """Five rows of ten: A is VIP, B and C are R, D and E are S (numbers 1-10 are row A...)."""
    schedule = ScheduleFactory()
    schedule_seats_generate(schedule=schedule, rows=5, seats_per_row=10, tiers=TIERS)
    return schedule


def best(schedule, count: int) -> list[str]:
    """The picked seats as row+number-in-row, e.g. A5."""
    answer = selectors.schedule_best_available(
        concert_id=schedule.concert_id, schedule_id=schedule.pk, count=count
    )
    assert answer["total"] == sum(seat["price"] for seat in answer["seats"])
    return [f"{seat['row']}{(seat['number'] - 1) % 10 + 1}" for seat in answer["seats"]]


def take(schedule, row: str, *numbers: int, status: str = SeatStatus.SOLD) -> None:
    held_until = timezone.now() + timedelta(minutes=5) if status == SeatStatus.HELD else None
    Seat.objects.filter(
        schedule=schedule, row=row, number__in=[(ord(row) - 65) * 10 + n for n in numbers]
    ).update(status=status, held_until=held_until)


def test_the_centre_of_the_front_row_of_the_best_tier(schedule):
    assert best(schedule, 2) == ["A5", "A6"]
    assert best(schedule, 3) == ["A4", "A5", "A6"]  # centre 5.5: 4-6 and 5-7 tie; the left one
    assert best(schedule, 4) == ["A4", "A5", "A6", "A7"]
    assert best(schedule, 1) == ["A5"]


def test_gaps_push_the_block_off_centre_then_to_the_next_row_of_the_tier(schedule):
    take(schedule, "A", 5)
    assert best(schedule, 3) == ["A6", "A7", "A8"]  # 1.5 off the centre; 2-4 is 2.5 off
    take(schedule, "A", 7)  # runs A1-A4, A6, A8-A10
    assert best(schedule, 3) == ["A2", "A3", "A4"]  # 2.5 off, as 8-10 is: the left one
    take(schedule, "A", 2, 9)  # no three left in A: the next row of a tier after it
    assert best(schedule, 3) == ["B4", "B5", "B6"]


def test_held_seats_are_taken_and_run_out_holds_are_free(schedule):
    take(schedule, "A", 1, 2, 3, 4, 6, 7, 8, 9, 10)  # A has one seat: no pair in VIP
    assert best(schedule, 2) == ["B5", "B6"]
    take(schedule, "B", 5, status=SeatStatus.HELD)
    assert best(schedule, 2) == ["B6", "B7"]
    Seat.objects.filter(schedule=schedule, number=15).update(
        held_until=timezone.now() - timedelta(seconds=1)
    )
    assert best(schedule, 2) == ["B5", "B6"]


def test_a_better_tier_beats_a_better_row_and_the_row_beats_the_centre(schedule):
    take(schedule, "A", 1, 2, 3, 4, 5, 6, 7, 8)  # A9-A10 left: the VIP pair, at the edge
    assert best(schedule, 2) == ["A9", "A10"]
    assert best(schedule, 3) == ["B4", "B5", "B6"]  # no VIP three: R, its front row
    take(schedule, "B", 2, 9)  # B3-B8 left: still centred in B rather than whole row C
    assert best(schedule, 4) == ["B4", "B5", "B6", "B7"]
    take(schedule, "B", 5)  # B3-B4 and B6-B8: no four in B
    assert best(schedule, 4) == ["C4", "C5", "C6", "C7"]


def test_none_when_no_row_has_so_many_free_together(schedule):
    for row in "ABCDE":
        take(schedule, row, 3, 6, 9)  # runs of at most two
    assert best(schedule, 3) == []
    assert best(schedule, 2) == ["A4", "A5"]
    answer = selectors.schedule_best_available(
        concert_id=schedule.concert_id, schedule_id=schedule.pk, count=3
    )
    assert answer == {"seats": [], "total": 0}


def test_a_block_never_spans_two_rows(schedule):
    for row in "ABCDE":
        take(schedule, row, 1, 2, 3, 4, 5, 6, 7, 8)  # 9-10 of each row, then 1-2 of the next
    assert best(schedule, 2) == ["A9", "A10"]
    assert best(schedule, 3) == []


def test_holding_the_best_moves_it(schedule, user):
    first = selectors.schedule_best_available(
        concert_id=schedule.concert_id, schedule_id=schedule.pk, count=4
    )
    services.reservation_hold(user=user, seat_ids=[seat["seat_id"] for seat in first["seats"]])
    # A1-A3 and A8-A10 are left in A: no four, so row B.
    assert best(schedule, 4) == ["B4", "B5", "B6", "B7"]


def url(schedule, count) -> str:
    base = f"/api/concerts/{schedule.concert_id}/schedules/{schedule.pk}/best-available"
    return base if count is None else f"{base}?count={count}"


def test_the_api_answers_and_caches(
    admitted_client, schedule, user, django_assert_num_queries, django_capture_on_commit_callbacks
):
    # One statement on a miss, however many seats; then from Redis.
    with django_assert_num_queries(1):
        first = admitted_client.get(url(schedule, 3))
    assert first.status_code == 200
    body = first.json()
    assert [seat["number"] for seat in body["seats"]] == [4, 5, 6]
    assert set(body["seats"][0]) == {"seat_id", "number", "row", "tier", "price"}
    assert body["total"] == 900
    with django_assert_num_queries(0):
        assert admitted_client.get(url(schedule, 3)).json() == body
    # A hold drops the cached answer once it commits.
    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_hold(user=user, seat_ids=[seat["seat_id"] for seat in body["seats"]])
    assert [seat["number"] for seat in admitted_client.get(url(schedule, 3)).json()["seats"]] == [
        7,
        8,
        9,
    ]


@pytest.mark.parametrize("count", [None, "", "0", "5", "-1", "abc", "1.5", "%202", "99999999999"])
def test_a_bad_count_is_400_invalid_count(admitted_client, schedule, count):
    response = admitted_client.get(url(schedule, count))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_count"


def test_a_date_of_another_concert_is_404(admitted_client, schedule):
    other = ScheduleFactory()
    response = admitted_client.get(
        f"/api/concerts/{other.concert_id}/schedules/{schedule.pk}/best-available?count=2"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "schedule_not_found"


def test_the_api_is_behind_the_queue_gate(auth_client, schedule):
    response = auth_client.get(url(schedule, 2))
    assert response.status_code == 403
    assert response.json()["code"] == "queue_token_required"
