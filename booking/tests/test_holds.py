"""Seat holds, one's own reservations and the expiry sweep: behaviour, errors and query counts."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from booking import services, tasks
from booking.errors import HoldLimitReached, SeatUnavailable
from booking.models import Reservation, ReservationStatus, Seat, SeatStatus
from booking.tests.factories import ScheduleFactory, SeatFactory
from booking.tests.parallel import run_parallel

pytestmark = pytest.mark.django_db


def hold_url() -> str:
    return "/api/reservation/concerts"


def run_out(reservation_id: int, *, ago: timedelta = timedelta(seconds=1)) -> None:
    """Move a hold's deadline into the past, on both the reservation and its seat."""
    past = timezone.now() - ago
    reservation = Reservation.objects.get(pk=reservation_id)
    Reservation.objects.filter(pk=reservation_id).update(expires_at=past)
    Seat.objects.filter(pk=reservation.seat_id).update(held_until=past)


@pytest.fixture
def seat():
    return SeatFactory(price=120_000)


def test_hold_answers_the_reservation(admitted_client, user, seat):
    before = timezone.now()
    response = admitted_client.post(hold_url(), {"seat_id": seat.id}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "reservation_id",
        "seat_id",
        "schedule_id",
        "concert_id",
        "price",
        "status",
        "expires_at",
    }
    reservation = Reservation.objects.get()
    assert body["reservation_id"] == reservation.id
    assert body["seat_id"] == seat.id
    assert body["schedule_id"] == seat.schedule_id
    assert body["concert_id"] == seat.schedule.concert_id
    assert body["price"] == 120_000
    assert body["status"] == "held"
    assert reservation.user_id == user.id
    assert reservation.price == 120_000
    assert timedelta(seconds=299) < reservation.expires_at - before < timedelta(seconds=301)
    seat.refresh_from_db()
    assert seat.status == SeatStatus.HELD
    assert seat.held_until == reservation.expires_at
    assert seat.version == 1


def test_hold_length_is_configurable(admitted_client, seat, settings):
    settings.HOLD_SECONDS = 60
    admitted_client.post(hold_url(), {"seat_id": seat.id}, format="json")
    reservation = Reservation.objects.get()
    assert reservation.expires_at - reservation.created_at == timedelta(seconds=60)


def test_unknown_seat_is_404(admitted_client, seat):
    response = admitted_client.post(hold_url(), {"seat_id": seat.id + 1000}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "seat_not_found"


@pytest.mark.parametrize("status", [SeatStatus.HELD, SeatStatus.SOLD])
def test_taken_seat_is_409(admitted_client, status):
    held_until = timezone.now() + timedelta(minutes=1) if status == SeatStatus.HELD else None
    seat = SeatFactory(status=status, held_until=held_until)
    response = admitted_client.post(hold_url(), {"seat_id": seat.id}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "seat_unavailable"
    assert Reservation.objects.count() == 0


def test_seat_held_by_someone_else_is_409(admitted_client, other_user, seat):
    services.reservation_hold(user=other_user, seat_id=seat.id)
    response = admitted_client.post(hold_url(), {"seat_id": seat.id}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "seat_unavailable"


def test_the_hold_limit_answers_before_an_unknown_seat(user, settings):
    settings.HOLD_LIMIT_PER_USER = 1
    seat = SeatFactory()
    services.reservation_hold(user=user, seat_id=seat.id)
    with pytest.raises(HoldLimitReached):
        services.reservation_hold(user=user, seat_id=seat.id + 1000)


def test_seat_of_a_past_date_cannot_be_held(admitted_client):
    seat = SeatFactory(schedule=ScheduleFactory(starts_at=timezone.now() - timedelta(hours=1)))
    response = admitted_client.post(hold_url(), {"seat_id": seat.id}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "seat_unavailable"
    seat.refresh_from_db()
    assert seat.status == SeatStatus.AVAILABLE


def test_hold_limit(admitted_client, user, settings):
    settings.HOLD_LIMIT_PER_USER = 2
    seats = [SeatFactory() for _ in range(4)]
    for seat in seats[:2]:
        response = admitted_client.post(hold_url(), {"seat_id": seat.id}, format="json")
        assert response.status_code == 201
    response = admitted_client.post(hold_url(), {"seat_id": seats[2].id}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "hold_limit_reached"
    assert Seat.objects.get(pk=seats[2].id).status == SeatStatus.AVAILABLE

    # A released hold and a run-out hold no longer count.
    first, second = Reservation.objects.order_by("id")
    assert admitted_client.delete(f"/api/reservations/{first.id}").status_code == 204
    response = admitted_client.post(hold_url(), {"seat_id": seats[2].id}, format="json")
    assert response.status_code == 201
    run_out(second.id)
    response = admitted_client.post(hold_url(), {"seat_id": seats[3].id}, format="json")
    assert response.status_code == 201, response.content


def test_expired_hold_is_free_for_the_next_buyer_before_any_sweep(admitted_client, other_user):
    seat = SeatFactory()
    first = services.reservation_hold(user=other_user, seat_id=seat.id)
    run_out(first["reservation_id"])

    response = admitted_client.post(hold_url(), {"seat_id": seat.id}, format="json")
    assert response.status_code == 201, response.content
    statuses = dict(Reservation.objects.values_list("id", "status"))
    assert statuses == {
        first["reservation_id"]: ReservationStatus.EXPIRED,
        response.json()["reservation_id"]: ReservationStatus.HELD,
    }


def test_run_out_hold_on_a_seat_already_freed_is_retired(user, other_user):
    """The sweep freed the seat but skipped the reservation (a payment had it locked)."""
    seat = SeatFactory()
    first = services.reservation_hold(user=other_user, seat_id=seat.id)
    run_out(first["reservation_id"])
    Seat.objects.filter(pk=seat.id).update(status=SeatStatus.AVAILABLE, held_until=None)

    second = services.reservation_hold(user=user, seat_id=seat.id)
    assert dict(Reservation.objects.values_list("id", "status")) == {
        first["reservation_id"]: ReservationStatus.EXPIRED,
        second["reservation_id"]: ReservationStatus.HELD,
    }


def test_hold_statements(user, other_user, django_assert_num_queries):
    """Lock the user, count their live holds, read the seat, retire a run-out hold on it, take
    it, insert the reservation; the same six whether or not a hold ran out on the seat. Plus
    the test's savepoint. (A party locks its rows in pk order first: test_party_holds.)"""
    seats = SeatFactory.create_batch(2)
    with django_assert_num_queries(6 + 2):
        first = services.reservation_hold(user=other_user, seat_id=seats[0].id)
    run_out(first["reservation_id"])
    # The seat is still marked held: the waiting lists are asked whether it is theirs.
    with django_assert_num_queries(7 + 2):
        services.reservation_hold(user=user, seat_id=seats[0].id)
    assert Reservation.objects.get(pk=first["reservation_id"]).status == ReservationStatus.EXPIRED


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_hold_is_one_transaction(user, seat):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        hold = services.reservation_hold(user=user, seat_id=seat.id)
    sent = [q["sql"].split("(")[0].split()[0] for q in queries.captured_queries]
    # After the commit the queue is told the user holds a seat (reading the rooms, when this
    # process has not cached them).
    sent = sent[: sent.index("COMMIT") + 1]
    assert sent == ["BEGIN", "SELECT", "SELECT", "SELECT", "UPDATE", "UPDATE", "INSERT", "COMMIT"]
    assert not connection.in_atomic_block
    seen = run_parallel([lambda: Reservation.objects.get(pk=hold["reservation_id"]).status])
    assert seen == [ReservationStatus.HELD]


def test_a_refused_hold_leaves_the_run_out_hold_it_retired(user, other_user):
    """A run-out hold is retired before the seat is taken; when the seat then turns out not to
    be free (sold by an operator's hand here), the retirement is undone with the rest."""
    seat = SeatFactory()
    first = services.reservation_hold(user=other_user, seat_id=seat.id)
    run_out(first["reservation_id"])
    Seat.objects.filter(pk=seat.id).update(status=SeatStatus.SOLD, held_until=None)

    with pytest.raises(SeatUnavailable):
        services.reservation_hold(user=user, seat_id=seat.id)
    assert list(Reservation.objects.values_list("pk", "status")) == [
        (first["reservation_id"], ReservationStatus.HELD)
    ]


def test_an_active_reservation_left_behind_still_blocks_the_seat(user, other_user):
    """The seat row says free but a live hold exists: the partial unique index answers."""
    seat = SeatFactory()
    services.reservation_hold(user=other_user, seat_id=seat.id)
    Seat.objects.filter(pk=seat.id).update(status=SeatStatus.AVAILABLE, held_until=None)

    with pytest.raises(SeatUnavailable):
        services.reservation_hold(user=user, seat_id=seat.id)
    assert Reservation.objects.count() == 1
    assert Seat.objects.get(pk=seat.id).status == SeatStatus.AVAILABLE  # rolled back


def test_database_refuses_two_active_reservations_for_one_seat(user, other_user):
    seat = SeatFactory()
    expires_at = timezone.now() + timedelta(minutes=5)
    Reservation.objects.create(user=user, seat=seat, price=1, expires_at=expires_at)
    with pytest.raises(IntegrityError, match="uk_reservation_seat_active"), transaction.atomic():
        Reservation.objects.create(
            user=other_user,
            seat=seat,
            price=1,
            status=ReservationStatus.PAID,
            paid_at=timezone.now(),
            expires_at=expires_at,
        )
    # Retired ones do not count.
    Reservation.objects.create(
        user=other_user,
        seat=seat,
        price=1,
        status=ReservationStatus.EXPIRED,
        expires_at=expires_at,
    )


def test_my_reservations(admitted_client, user, other_user, django_assert_num_queries):
    seats = [SeatFactory(price=1000 * (n + 1)) for n in range(4)]
    held = services.reservation_hold(user=user, seat_id=seats[0].id)
    ran_out = services.reservation_hold(user=user, seat_id=seats[1].id)
    run_out(ran_out["reservation_id"])
    released = services.reservation_hold(user=user, seat_id=seats[2].id)
    services.reservation_cancel(user=user, reservation_id=released["reservation_id"])
    services.reservation_hold(user=other_user, seat_id=seats[3].id)

    with django_assert_num_queries(2):  # count + page, however many reservations
        response = admitted_client.get("/api/reservations")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    rows = body["results"]
    assert [row["reservation_id"] for row in rows] == [
        released["reservation_id"],
        ran_out["reservation_id"],
        held["reservation_id"],
    ]
    assert [row["status"] for row in rows] == ["cancelled", "expired", "held"]
    newest = rows[2]
    assert set(newest) == {
        "reservation_id",
        "seat_id",
        "seat_number",
        "seat_row",
        "schedule_id",
        "starts_at",
        "concert_id",
        "concert_title",
        "price",
        "status",
        "expires_at",
        "paid_at",
        "created_at",
        "ticket_code",
    }
    assert newest["seat_id"] == seats[0].id
    assert newest["concert_title"] == seats[0].schedule.concert.title
    assert newest["price"] == 1000
    assert newest["paid_at"] is None
    assert newest["ticket_code"] is None  # shown once paid


def test_reservation_list_query_count_does_not_grow(
    admitted_client, user, settings, django_assert_num_queries
):
    settings.HOLD_LIMIT_PER_USER = 50
    for _ in range(30):
        services.reservation_hold(user=user, seat_id=SeatFactory().id)
    with django_assert_num_queries(2):
        response = admitted_client.get("/api/reservations?page_size=30")
    assert len(response.json()["results"]) == 30


def test_release_own_hold(admitted_client, user, seat):
    reservation = services.reservation_hold(user=user, seat_id=seat.id)
    response = admitted_client.delete(f"/api/reservations/{reservation['reservation_id']}")
    assert response.status_code == 204
    assert Reservation.objects.get().status == ReservationStatus.CANCELLED
    seat.refresh_from_db()
    assert (seat.status, seat.held_until) == (SeatStatus.AVAILABLE, None)
    # Releasing again changes nothing and is not an error.
    again = admitted_client.delete(f"/api/reservations/{reservation['reservation_id']}")
    assert again.status_code == 204


def test_release_of_a_run_out_hold_marks_it_expired(admitted_client, user, seat):
    reservation = services.reservation_hold(user=user, seat_id=seat.id)
    run_out(reservation["reservation_id"])
    response = admitted_client.delete(f"/api/reservations/{reservation['reservation_id']}")
    assert response.status_code == 204
    assert Reservation.objects.get().status == ReservationStatus.EXPIRED


def test_release_of_someone_elses_or_unknown_hold_is_404(admitted_client, other_user, seat):
    theirs = services.reservation_hold(user=other_user, seat_id=seat.id)
    for reservation_id in (theirs["reservation_id"], theirs["reservation_id"] + 1):
        response = admitted_client.delete(f"/api/reservations/{reservation_id}")
        assert response.status_code == 404
        assert response.json()["code"] == "reservation_not_found"
    assert Reservation.objects.get().status == ReservationStatus.HELD
    assert Seat.objects.get(pk=seat.id).status == SeatStatus.HELD


def test_sweep_expires_holds_in_bulk_and_is_idempotent(user, other_user, settings):
    settings.HOLD_LIMIT_PER_USER = 10
    seats = [SeatFactory() for _ in range(6)]
    holds = [services.reservation_hold(user=user, seat_id=seat.id) for seat in seats[:5]]
    for hold in holds[:4]:
        run_out(hold["reservation_id"])
    # A seat marked held with a run-out deadline and no reservation at all is freed too.
    Seat.objects.filter(pk=seats[5].id).update(
        status=SeatStatus.HELD, held_until=timezone.now() - timedelta(minutes=1)
    )

    assert services.holds_expire(batch_size=3) == 4  # two batches
    assert Reservation.objects.filter(status=ReservationStatus.EXPIRED).count() == 4
    live = Reservation.objects.get(status=ReservationStatus.HELD)
    assert live.id == holds[4]["reservation_id"]
    statuses = dict(Seat.objects.values_list("id", "status"))
    assert statuses[live.seat_id] == SeatStatus.HELD
    assert [statuses[s.id] for s in seats if s.id != live.seat_id] == [SeatStatus.AVAILABLE] * 5

    snapshot = (
        list(Seat.objects.order_by("id").values()),
        list(Reservation.objects.order_by("id").values()),
    )
    assert tasks.holds_expire() == 0  # the beat task runs the same sweep
    assert snapshot == (
        list(Seat.objects.order_by("id").values()),
        list(Reservation.objects.order_by("id").values()),
    )


def test_sweep_leaves_a_seat_that_was_held_again_alone(user, other_user):
    seat = SeatFactory()
    first = services.reservation_hold(user=user, seat_id=seat.id)
    run_out(first["reservation_id"])
    second = services.reservation_hold(user=other_user, seat_id=seat.id)
    assert services.holds_expire() == 0  # the new hold already retired the old one
    seat.refresh_from_db()
    assert seat.status == SeatStatus.HELD
    assert Reservation.objects.get(status=ReservationStatus.HELD).id == second["reservation_id"]


def test_cached_seat_lists_follow_holds_releases_and_the_sweep(
    admitted_client, user, other_user, django_capture_on_commit_callbacks
):
    first = SeatFactory()
    second = SeatFactory(schedule=first.schedule)
    url = f"/api/concerts/{first.schedule.concert_id}/schedules/{first.schedule_id}/available-seats"

    def free_seats() -> list[int]:
        response = admitted_client.get(url)
        assert response.status_code == 200, response.content
        return [seat["seat_id"] for seat in response.json()]

    assert free_seats() == [first.id, second.id]  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        hold = services.reservation_hold(user=other_user, seat_id=first.id)
    assert free_seats() == [second.id]
    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_cancel(user=other_user, reservation_id=hold["reservation_id"])
    assert free_seats() == [first.id, second.id]

    with django_capture_on_commit_callbacks(execute=True):
        hold = services.reservation_hold(user=other_user, seat_id=second.id)
    assert free_seats() == [first.id]
    run_out(hold["reservation_id"])
    with django_capture_on_commit_callbacks(execute=True):
        assert services.holds_expire() == 1
    assert free_seats() == [first.id, second.id]


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Seoul"])
def test_hold_body_is_what_the_documented_serializer_renders(
    admitted_client, user, seat, settings, time_zone
):
    from booking.api.serializers import ReservationOutput

    settings.TIME_ZONE = time_zone
    response = admitted_client.post(hold_url(), {"seat_id": seat.id}, format="json")
    assert response.status_code == 201, response.content
    reservation = Reservation.objects.get()
    expected = ReservationOutput(
        {
            "reservation_id": reservation.pk,
            "seat_id": seat.id,
            "schedule_id": seat.schedule_id,
            "concert_id": seat.schedule.concert_id,
            "price": 120_000,
            "status": "held",
            "expires_at": reservation.expires_at,
        }
    ).data
    assert response.json() == expected
