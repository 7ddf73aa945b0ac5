"""Check-in at the door: every answer of the scan, the door's page, and one entry per ticket
however many scans race for it."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from booking import services
from booking.errors import AlreadyCheckedIn
from booking.models import CheckIn, Reservation, ReservationStatus
from booking.tests.factories import ScheduleFactory, SeatFactory, UserFactory
from booking.tests.parallel import Failed, run_parallel
from payments.services import payment_create, payment_refund, wallet_charge

URL = "/api/check-in"


def door_person(**fields):
    user = UserFactory(**fields)
    user.user_permissions.add(
        Permission.objects.get(codename="check_in", content_type__app_label="booking")
    )
    return user


def paid_ticket(*, schedule=None, number: int = 7, **user_fields) -> Reservation:
    """A buyer pays for row C, seat `number` (tier R, 110,000) through the real services."""
    buyer = UserFactory(**user_fields)
    seat = SeatFactory(
        schedule=schedule or ScheduleFactory(), number=number, row="C", tier="R", price=110_000
    )
    wallet_charge(user=buyer, amount=110_000)
    hold = services.reservation_hold(user=buyer, seat_id=seat.pk)
    payment_create(user=buyer, reservation_id=hold["reservation_id"])
    return Reservation.objects.select_related("seat__schedule__concert").get(
        pk=hold["reservation_id"]
    )


def tables() -> dict[str, list[dict]]:
    return {
        "checkins": list(CheckIn.objects.order_by("pk").values()),
        "reservations": list(Reservation.objects.order_by("pk").values()),
    }


@pytest.fixture
def door(db) -> APIClient:
    client = APIClient()
    client.force_authenticate(door_person(username="door"))
    return client


@pytest.mark.django_db
class TestScan:
    def test_first_scan_lets_in_with_seat_and_holder(self, door):
        ticket = paid_ticket(username="holly", first_name="Holly", last_name="Golightly")
        response = door.post(URL, {"code": ticket.ticket_code}, format="json")
        assert response.status_code == 200, response.json()
        body = response.json()
        checked_in = CheckIn.objects.get()
        assert body == {
            "reservation_id": ticket.pk,
            "concert_title": ticket.seat.schedule.concert.title,
            "schedule_id": ticket.seat.schedule_id,
            "starts_at": body["starts_at"],
            "seat_row": "C",
            "seat_number": 7,
            "tier": "R",
            "holder": "holly",
            "holder_name": "Holly Golightly",
            "checked_in_at": body["checked_in_at"],
        }
        assert (checked_in.reservation_id, checked_in.schedule_id) == (
            ticket.pk,
            ticket.seat.schedule_id,
        )
        assert checked_in.staff.username == "door"

    def test_second_scan_is_refused_with_the_first_ones_time(self, door):
        ticket = paid_ticket(first_name="", last_name="")
        first = door.post(URL, {"code": ticket.ticket_code}, format="json").json()
        assert first["holder_name"] is None
        before = tables()
        again = door.post(URL, {"code": ticket.ticket_code}, format="json")
        assert again.status_code == 409
        body = again.json()
        assert body["code"] == "already_checked_in"
        assert body["checked_in_at"] == first["checked_in_at"]
        assert body["checked_in_by"] == "door"
        assert body["detail"].startswith("Already checked in at ") and "by door" in body["detail"]
        assert tables() == before

    def test_codes_as_people_type_them_are_read(self, door):
        ticket = paid_ticket()
        typed = "-".join(ticket.ticket_code[i : i + 4] for i in range(0, 32, 4)).upper()
        response = door.post(URL, {"code": f"  {typed[:20]} {typed[20:]} "}, format="json")
        assert response.status_code == 200
        assert response.json()["reservation_id"] == ticket.pk

    @pytest.mark.parametrize(
        "code",
        ["abc", "0" * 31, "0" * 33, "g" * 32, "0123456789abcdef0123456789abcdeg", "12_34" * 7],
    )
    def test_a_code_of_the_wrong_shape_is_400(self, door, code):
        paid_ticket()
        before = tables()
        response = door.post(URL, {"code": code}, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_ticket_code"
        assert tables() == before

    @pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": 5}, {"code": "x", "seat": 1}])
    def test_malformed_bodies_are_400(self, door, body):
        response = door.post(URL, body, format="json")
        assert response.status_code == 400
        assert response.json()["code"] in {"invalid", "invalid_ticket_code"}
        assert not CheckIn.objects.exists()

    def test_an_unknown_code_is_404(self, door):
        paid_ticket()
        before = tables()
        response = door.post(URL, {"code": "0123456789abcdef" * 2}, format="json")
        assert response.status_code == 404
        assert response.json()["code"] == "ticket_not_found"
        assert tables() == before

    def test_the_code_of_a_reservation_never_paid_is_unknown(self, door):
        buyer = UserFactory()
        hold = services.reservation_hold(user=buyer, seat_id=SeatFactory().pk)
        held = Reservation.objects.get(pk=hold["reservation_id"])
        before = tables()
        response = door.post(URL, {"code": held.ticket_code}, format="json")
        assert (response.status_code, response.json()["code"]) == (404, "ticket_not_found")
        services.reservation_cancel(user=buyer, reservation_id=held.pk)
        response = door.post(URL, {"code": held.ticket_code}, format="json")
        assert (response.status_code, response.json()["code"]) == (404, "ticket_not_found")
        assert tables()["checkins"] == before["checkins"] == []

    def test_a_refunded_ticket_is_refused(self, door):
        ticket = paid_ticket()
        payment_refund(reservation_id=ticket.pk)
        before = tables()
        response = door.post(URL, {"code": ticket.ticket_code}, format="json")
        assert (response.status_code, response.json()["code"]) == (409, "ticket_refunded")
        assert tables() == before

    def test_a_ticket_for_another_date_is_refused_with_its_date(self, door):
        ticket = paid_ticket()
        tonight = ScheduleFactory(starts_at=timezone.now() + timedelta(hours=2))
        before = tables()
        response = door.post(
            URL, {"code": ticket.ticket_code, "schedule_id": tonight.pk}, format="json"
        )
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "ticket_other_date"
        assert body["schedule_id"] == ticket.seat.schedule_id
        assert ticket.seat.schedule.concert.title in body["detail"]
        assert tables() == before
        # At its own date's door it is let in.
        right = door.post(
            URL, {"code": ticket.ticket_code, "schedule_id": ticket.seat.schedule_id}, format="json"
        )
        assert right.status_code == 200

    def test_anonymous_is_401(self, api_client):
        ticket = paid_ticket()
        response = api_client.post(URL, {"code": ticket.ticket_code}, format="json")
        assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
        assert not CheckIn.objects.exists()

    def test_a_buyer_without_the_permission_is_403(self):
        ticket = paid_ticket()
        client = APIClient()
        client.force_authenticate(Reservation.objects.get(pk=ticket.pk).user)
        response = client.post(URL, {"code": ticket.ticket_code}, format="json")
        assert (response.status_code, response.json()["code"]) == (403, "check_in_not_allowed")
        assert not CheckIn.objects.exists()

    def test_the_permission_through_a_group_and_for_superusers(self):
        from django.contrib.auth.models import Group

        ticket, other = paid_ticket(number=1), paid_ticket(number=2)
        group = Group.objects.create(name="Doors")
        group.permissions.add(Permission.objects.get(codename="check_in"))
        grouped = UserFactory()
        grouped.groups.add(group)
        admin = UserFactory(is_superuser=True)
        for user, code in [(grouped, ticket.ticket_code), (admin, other.ticket_code)]:
            client = APIClient()
            client.force_authenticate(user)
            assert client.post(URL, {"code": code}, format="json").status_code == 200


@pytest.mark.django_db
class TestDoorPage:
    def page(self, user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    def test_needs_the_permission(self, user):
        response = self.page(user).get(reverse("check-in"))
        assert response.status_code == 403
        assert "door staff" in response.content.decode()
        assert Client().get(reverse("check-in")).status_code == 302  # to the login page

    def test_lists_todays_dates_first_and_checks_in(self):
        tonight = ScheduleFactory(starts_at=timezone.localtime().replace(hour=23, minute=59))
        ScheduleFactory(starts_at=timezone.now() - timedelta(days=2))  # over: not offered
        ticket = paid_ticket(schedule=tonight, username="holly")
        client = self.page(door_person())
        page = client.get(reverse("check-in")).content.decode()
        assert f'<option value="{tonight.pk}" selected>' in page
        assert page.count("<option") == 2  # "any date" and tonight

        ok = client.post(
            reverse("check-in"), {"code": ticket.ticket_code.upper(), "schedule_id": tonight.pk}
        ).content.decode()
        assert 'data-check-in="ok"' in ok
        assert "Checked in: row C seat 7, holly" in ok
        assert f'<option value="{tonight.pk}" selected>' in ok  # the door stays on its date

        again = client.post(
            reverse("check-in"), {"code": ticket.ticket_code, "schedule_id": tonight.pk}
        ).content.decode()
        first = timezone.localtime(CheckIn.objects.get().checked_in_at)
        assert 'data-check-in="already_checked_in"' in again
        assert f"Already checked in at {first:%H:%M:%S} by " in again

    @pytest.mark.parametrize(
        "code, expected",
        [("nope", "invalid_ticket_code"), ("ab" * 16, "ticket_not_found")],
    )
    def test_refusals_say_why(self, code, expected):
        response = self.page(door_person()).post(reverse("check-in"), {"code": code})
        assert f'data-check-in="{expected}"' in response.content.decode()
        assert not CheckIn.objects.exists()

    def test_refunded_and_other_date(self):
        refunded, elsewhere = paid_ticket(number=1), paid_ticket(number=2)
        payment_refund(reservation_id=refunded.pk)
        client = self.page(door_person())
        page = client.post(reverse("check-in"), {"code": refunded.ticket_code}).content.decode()
        assert 'data-check-in="ticket_refunded"' in page
        page = client.post(
            reverse("check-in"),
            {"code": elsewhere.ticket_code, "schedule_id": refunded.seat.schedule_id},
        ).content.decode()
        assert 'data-check-in="ticket_other_date"' in page
        assert not CheckIn.objects.exists()


# --- Many scans of one ticket at once ---------------------------------------------------------

# Long enough that every thread reads before any writes: the race then happens every run.
RACE_WINDOW_SECONDS = 0.05


def naive_check_in(*, code: str, staff) -> bool:
    """The bug the service must not have: look for a check-in, then write one, no lock."""
    with transaction.atomic():
        reservation = Reservation.objects.get(ticket_code=code, status=ReservationStatus.PAID)
        if CheckIn.objects.filter(reservation_id=reservation.pk).exists():
            return False
        time.sleep(RACE_WINDOW_SECONDS)
        CheckIn.objects.create(
            reservation_id=reservation.pk, schedule_id=reservation.seat.schedule_id, staff=staff
        )
        return True


@pytest.mark.django_db(transaction=True)
def test_control_without_lock_or_constraint_one_ticket_gets_in_many_times():
    ticket = paid_ticket()
    staff = door_person()
    constraint = next(c for c in CheckIn._meta.constraints if c.name == "uk_checkin_reservation")
    with connection.schema_editor() as editor:
        editor.remove_constraint(CheckIn, constraint)
    try:
        results = run_parallel(
            [lambda: naive_check_in(code=ticket.ticket_code, staff=staff)] * 20, threads=20
        )
        assert not [r for r in results if isinstance(r, Failed)]
        assert results.count(True) > 1
        assert CheckIn.objects.filter(reservation_id=ticket.pk).count() > 1
    finally:
        CheckIn.objects.all().delete()
        with connection.schema_editor() as editor:
            editor.add_constraint(CheckIn, constraint)


@pytest.mark.django_db(transaction=True)
def test_twenty_scans_of_one_ticket_at_once_check_in_exactly_once():
    ticket = paid_ticket()
    staff = [door_person() for _ in range(20)]
    results = run_parallel(
        [lambda s=s: services.ticket_check_in(code=ticket.ticket_code, staff=s) for s in staff],
        threads=20,
    )
    admitted = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Failed)]
    assert len(admitted) == 1 and len(refused) == 19
    assert {type(r.exc) for r in refused} == {AlreadyCheckedIn}
    checked_in = CheckIn.objects.get()
    assert checked_in.reservation_id == ticket.pk
    assert {r.exc.extra["checked_in_at"] for r in refused} == {checked_in.checked_in_at}
    assert admitted[0]["checked_in_at"] == checked_in.checked_in_at


@pytest.mark.django_db(transaction=True)
def test_twenty_scans_over_http_answer_one_200_and_nineteen_409():
    ticket = paid_ticket()
    clients = []
    for _ in range(20):
        client = APIClient()
        client.force_authenticate(door_person())
        clients.append(client)

    def scan(client):
        response = client.post(URL, {"code": ticket.ticket_code}, format="json")
        return response.status_code, response.json()

    results = run_parallel([lambda c=c: scan(c) for c in clients], threads=20)
    assert sorted(status for status, _ in results) == [200] + [409] * 19
    assert {body["code"] for status, body in results if status == 409} == {"already_checked_in"}
    assert CheckIn.objects.count() == 1


# --- The console -----------------------------------------------------------------------------


@pytest.fixture
def operator(db) -> Client:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("op", "op@example.com", "op-pass-123")
    client = Client()
    client.force_login(user)
    client.get(reverse("admin:index"))  # the first request also warms the session
    return client


def _queries(client: Client, url: str) -> tuple[int, str]:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(captured.captured_queries), response.content.decode()


def _scanned(count: int, schedule, staff) -> None:
    for _ in range(count):
        ticket = paid_ticket(schedule=schedule, number=Reservation.objects.count() + 1)
        services.ticket_check_in(code=ticket.ticket_code, staff=staff)


@pytest.mark.django_db
def test_check_ins_list_per_date_at_a_fixed_cost(operator):
    staff = door_person(username="gate-a")
    first, second = ScheduleFactory(), ScheduleFactory()
    _scanned(1, first, staff)
    url = reverse("admin:booking_checkin_changelist")
    few, _ = _queries(operator, url)
    _scanned(6, first, staff)
    _scanned(5, second, staff)
    many, page = _queries(operator, url)
    assert many == few
    assert page.count('class="field-checked_in_at') == 12
    assert "gate-a" in page and "Row C, seat" in page

    # Per date: typed as the date's id, as the reservations' filter takes it.
    _, page = _queries(operator, f"{url}?schedule={second.pk}")
    assert page.count("gate-a") == 5


@pytest.mark.django_db
def test_dates_show_how_many_of_their_sold_tickets_are_in(operator):
    staff = door_person()
    url = reverse("admin:booking_concertschedule_changelist")
    date = ScheduleFactory()
    paid_ticket(schedule=date, number=1)
    _scanned(1, date, staff)
    few, page = _queries(operator, url)
    checkins = reverse("admin:booking_checkin_changelist")
    assert f'<a href="{checkins}?schedule={date.pk}">1 / 2</a>' in page
    for _ in range(5):
        _scanned(2, ScheduleFactory(), staff)
    many, page = _queries(operator, url)
    assert many == few
    assert page.count(">2 / 2</a>") == 5


@pytest.mark.django_db
def test_nobody_edits_a_scan(operator):
    _scanned(1, ScheduleFactory(), door_person())
    checked_in = CheckIn.objects.get()
    assert operator.get(reverse("admin:booking_checkin_add")).status_code == 403
    change = operator.get(reverse("admin:booking_checkin_change", args=[checked_in.pk]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    delete = operator.post(reverse("admin:booking_checkin_delete", args=[checked_in.pk]))
    assert delete.status_code == 403
    assert CheckIn.objects.get() == checked_in


@pytest.mark.django_db
def test_the_door_staff_group_grants_the_check_in():
    from importlib import import_module

    from django.apps import apps
    from django.contrib.auth.models import Group

    migration = import_module("booking.migrations.0006_tickets_door_staff_group")
    Group.objects.filter(name="Door staff").delete()
    migration.door_staff_group_create(apps, None)
    migration.door_staff_group_create(apps, None)  # again: still one group, one permission
    group = Group.objects.get(name="Door staff")
    assert list(group.permissions.values_list("codename", flat=True)) == ["check_in"]
    person = UserFactory()
    person.groups.add(group)
    assert person.has_perm("booking.check_in")
