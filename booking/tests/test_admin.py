"""Operator console: fixed query counts per list, seat-map generation, and odd input."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models.signals import pre_save
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from booking.models import Concert, ConcertSchedule, Seat
from booking.services import schedule_seats_generate
from booking.tests.factories import (
    ConcertFactory,
    ScheduleFactory,
    SeatFactory,
    schedule_with_seats,
)
from concertbooking.errors import Conflict, InvalidInput

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db) -> Client:
    user = get_user_model().objects.create_superuser("op", "op@example.com", "op-pass-123")
    client = Client()
    client.force_login(user)
    client.get(reverse("admin:index"))  # the first request also warms the session
    return client


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(captured.captured_queries)


# --- Fixed number of queries per list ------------------------------------------------------


def _catalog(concerts: int, dates: int, seats: int) -> None:
    for _ in range(concerts):
        concert = ConcertFactory()
        for d in range(dates):
            schedule_with_seats(
                seats, concert=concert, starts_at=timezone.now() + timedelta(days=d + 1)
            )


@pytest.mark.parametrize(
    "url_name", ["admin:booking_concert_changelist", "admin:booking_concertschedule_changelist"]
)
def test_catalog_lists_cost_the_same_for_few_and_many_rows(operator, url_name):
    _catalog(concerts=2, dates=1, seats=1)
    few = _queries(operator, reverse(url_name))
    _catalog(concerts=15, dates=3, seats=1)
    assert _queries(operator, reverse(url_name)) == few


def test_seat_list_costs_the_same_for_few_and_many_rows(operator, django_assert_num_queries):
    _catalog(concerts=1, dates=1, seats=2)
    url = reverse("admin:booking_seat_changelist")
    few = _queries(operator, url)
    _catalog(concerts=4, dates=2, seats=15)
    assert _queries(operator, url) == few
    schedule = ConcertSchedule.objects.last()
    # A filtered list counts exactly and skips the planner-estimate lookup.
    filtered = _queries(operator, f"{url}?schedule__id__exact={schedule.pk}")
    assert filtered == few - 1
    page = operator.get(f"{url}?schedule__id__exact={schedule.pk}").content.decode()
    assert page.count('class="action-select"') == 15


def test_the_seat_list_never_counts_the_whole_table(operator):
    _catalog(concerts=1, dates=1, seats=3)
    with CaptureQueriesContext(connection) as captured:
        operator.get(reverse("admin:booking_seat_changelist"))
    # show_full_result_count=False: no second, unfiltered COUNT(*) beside the page's own count.
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(*)" in q["sql"].upper()]
    assert len(counts) <= 1


def test_seat_edit_form_uses_autocomplete_not_a_dropdown_of_every_date(operator):
    _catalog(concerts=3, dates=3, seats=1)
    seat = Seat.objects.first()
    page = operator.get(reverse("admin:booking_seat_change", args=[seat.pk])).content.decode()
    assert "admin-autocomplete" in page
    # Only the selected date is rendered as an option, never the whole table.
    assert page.count("<option") <= 3


def test_concert_page_shows_its_dates_inline(operator):
    concert = ConcertFactory(title="Inline Show")
    ScheduleFactory(concert=concert)
    page = operator.get(reverse("admin:booking_concert_change", args=[concert.pk]))
    assert page.status_code == 200
    assert "Seats of this date" in page.content.decode()


# --- Seat-map generation -------------------------------------------------------------------


def test_generating_with_tiers_lays_rows_out_from_the_stage():
    schedule = ScheduleFactory()
    made = schedule_seats_generate(
        schedule=schedule, rows=5, seats_per_row=4, tiers=[("VIP", 1, 150_000), ("R", 2, 90_000)]
    )
    assert made == 20
    seats = list(
        Seat.objects.filter(schedule=schedule).values_list("number", "row", "tier", "price")
    )
    assert seats[0] == (1, "A", "VIP", 150_000)
    assert seats[4] == (5, "B", "R", 90_000)
    # The last tier runs to the back.
    assert seats[-1] == (20, "E", "R", 90_000)
    assert [s[0] for s in seats] == list(range(1, 21))


def test_generating_without_tiers_uses_the_standard_split():
    schedule = ScheduleFactory()
    schedule_seats_generate(schedule=schedule, rows=10, seats_per_row=2)
    tiers = list(
        Seat.objects.filter(schedule=schedule).order_by("number").values_list("tier", flat=True)
    )
    assert tiers[0] == "VIP" and tiers[-1] == "S"


@pytest.mark.parametrize(
    ("rows", "per_row", "tiers"),
    [
        (0, 10, None),
        (10, 0, None),
        (703, 1, None),
        (1, 1001, None),
        (500, 500, None),
        (2, 2, [("VIP", 3, 100)]),
        (2, 2, [("", 1, 100)]),
        (2, 2, [("X" * 17, 1, 100)]),
        (2, 2, [("VIP", 0, 100)]),
        (2, 2, [("VIP", 1, -1)]),
        (2, 2, [("VIP", 1, 10**12)]),
    ],
)
def test_generating_refuses_what_does_not_fit(rows, per_row, tiers):
    schedule = ScheduleFactory()
    with pytest.raises(InvalidInput):
        schedule_seats_generate(schedule=schedule, rows=rows, seats_per_row=per_row, tiers=tiers)
    assert not Seat.objects.exists()


def test_a_date_with_seats_is_left_alone():
    schedule = ScheduleFactory()
    schedule_seats_generate(schedule=schedule, rows=1, seats_per_row=3)
    with pytest.raises(Conflict):
        schedule_seats_generate(schedule=schedule, rows=2, seats_per_row=2)
    assert Seat.objects.filter(schedule=schedule).count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_operators_generating_one_date_make_one_map():
    schedule = ScheduleFactory()
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def generate():
        try:
            barrier.wait()
            schedule_seats_generate(schedule=schedule, rows=20, seats_per_row=25)
            outcomes.append("made")
        except Conflict:
            outcomes.append("conflict")
        except Exception as exc:  # an IntegrityError here would be a 500 in the admin
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=generate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "made"]
    assert Seat.objects.filter(schedule=schedule).count() == 500


def _action(client, url, ids, **extra):
    return client.post(
        url, {"action": "generate_seat_maps", "_selected_action": [str(i) for i in ids], **extra}
    )


def test_operator_generates_seat_maps_from_the_dates_list(operator):
    first, second = ScheduleFactory(), ScheduleFactory()
    url = reverse("admin:booking_concertschedule_changelist")
    form = _action(operator, url, [first.pk, second.pk])
    assert form.status_code == 200
    assert "Generate seats" in form.content.decode()
    assert not Seat.objects.exists()

    done = _action(
        operator,
        url,
        [first.pk, second.pk],
        apply="1",
        rows="3",
        seats_per_row="4",
        tiers="VIP, 1, 200000\nS, 2, 50000",
    )
    assert done.status_code == 302
    assert Seat.objects.filter(schedule=first).count() == 12
    assert Seat.objects.filter(schedule=second, row="C", tier="S", price=50_000).count() == 4
    page = operator.get(url).content.decode()
    assert "Created 24 seats on 2 date(s)." in page

    again = _action(operator, url, [first.pk], apply="1", rows="1", seats_per_row="1", tiers="")
    assert again.status_code == 302
    assert "already has a seat map" in operator.get(url).content.decode()
    assert Seat.objects.count() == 24


def test_operator_generates_every_date_of_a_concert(operator):
    concert = ConcertFactory()
    ScheduleFactory(concert=concert)
    ScheduleFactory(concert=concert)
    url = reverse("admin:booking_concert_changelist")
    response = _action(
        operator, url, [concert.pk], apply="1", rows="2", seats_per_row="5", tiers=""
    )
    assert response.status_code == 302
    assert Seat.objects.filter(schedule__concert=concert).count() == 20


@pytest.mark.parametrize(
    "fields",
    [
        {"rows": "0", "seats_per_row": "10"},
        {"rows": "abc", "seats_per_row": "10"},
        {"rows": "99999999999999999999999", "seats_per_row": "10"},
        {"rows": "500", "seats_per_row": "500"},
        {"rows": "2", "seats_per_row": "2", "tiers": "VIP 1 100"},
        {"rows": "2", "seats_per_row": "2", "tiers": "VIP, one, 100"},
        {"rows": "2", "seats_per_row": "2", "tiers": "VIP, 5, 100"},
        {"rows": "2", "seats_per_row": "2", "tiers": "VIP, 1, -5"},
        {"rows": "2", "seats_per_row": "2", "tiers": "\x00, 1, 5"},
        {},
    ],
)
def test_generation_form_explains_bad_input(operator, fields):
    schedule = ScheduleFactory()
    url = reverse("admin:booking_concertschedule_changelist")
    response = _action(operator, url, [schedule.pk], apply="1", **fields)
    assert response.status_code in (200, 302)
    assert not Seat.objects.exists()


# --- Odd input anywhere in the console -----------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/admin/booking/concert/?q=%00",
        "/admin/booking/concert/?q=%27%22%3B--",
        "/admin/booking/concert/?q=" + "x" * 3000,
        "/admin/booking/concert/?o=abc",
        "/admin/booking/concert/?p=-1",
        "/admin/booking/concert/?p=99999999999999999999",
        "/admin/booking/concert/abc/change/",
        "/admin/booking/concert/99999999999999999999/change/",
        "/admin/booking/concertschedule/?starts_at__year=abc",
        "/admin/booking/concertschedule/?q=%00",
        "/admin/booking/seat/?schedule__id__exact=abc",
        "/admin/booking/seat/?schedule__id__exact=99999999999999999999",
        "/admin/booking/seat/?status__exact=nonsense",
        "/admin/booking/seat/?o=3",
        "/admin/booking/seat/0/change/",
        "/admin/autocomplete/?app_label=booking&model_name=seat&field_name=schedule&term=%00",
        "/admin/autocomplete/?app_label=booking&model_name=concertschedule&field_name=concert"
        "&term=%00x",
        "/admin/autocomplete/?app_label=nope&model_name=seat&field_name=schedule&term=a",
    ],
)
def test_odd_console_urls_never_fail(operator, path):
    ConcertFactory()
    response = operator.get(path)
    assert response.status_code in (200, 302, 403, 404)


def test_seat_edit_refuses_impossible_values(operator):
    seat = SeatFactory()
    url = reverse("admin:booking_seat_change", args=[seat.pk])
    for price in ("-1", "99999999999999999999", "abc"):
        response = operator.post(
            url,
            {"schedule": seat.schedule_id, "number": seat.number, "row": "A", "price": price},
        )
        assert response.status_code == 200
        assert "errornote" in response.content.decode()
    other = SeatFactory(schedule=seat.schedule)
    taken = operator.post(
        url,
        {"schedule": seat.schedule_id, "number": other.number, "row": "A", "price": "5"},
    )
    assert taken.status_code == 200  # the seat key refuses the duplicate as a form error
    assert Concert.objects.count() == 1


@pytest.mark.slow
def test_seat_console_stays_on_indexes_at_a_million_seats(operator):
    from booking.services import catalog_seed

    catalog_seed(concerts=5000, dates_per_concert=4, seats_per_date=50)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE booking_seat, booking_concertschedule, booking_concert")
    url = reverse("admin:booking_seat_changelist")
    schedule = ConcertSchedule.objects.order_by("id")[2500]
    for query_string in ("", f"?schedule__id__exact={schedule.pk}", "?p=50"):
        with CaptureQueriesContext(connection) as captured:
            response = operator.get(url + query_string)
        assert response.status_code == 200
        seat_queries = [q["sql"] for q in captured if 'FROM "booking_seat"' in q["sql"]]
        if not query_string:
            # The unfiltered list reads the planner's estimate instead of counting a million rows.
            assert not any("COUNT(" in sql.upper() for sql in seat_queries), seat_queries
        page_sql = next(sql for sql in seat_queries if sql.startswith('SELECT "booking_seat"."id"'))
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + page_sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "uk_schedule_id_seat_num" in plan, plan
        assert "Seq Scan on booking_seat" not in plan, plan
        assert "Sort" not in plan.split("->")[0], plan


# --- Reservations --------------------------------------------------------------------------


def _reservations(count: int, *, status: str = "held"):
    from booking.models import Reservation

    made = []
    for _ in range(count):
        seat = SeatFactory(status="held", held_until=timezone.now() + timedelta(minutes=5))
        user = get_user_model().objects.create_user(f"buyer{seat.pk}", password="x")
        made.append(
            Reservation.objects.create(
                user=user,
                seat=seat,
                price=seat.price,
                status=status,
                expires_at=seat.held_until,
                paid_at=timezone.now() if status == "paid" else None,
            )
        )
    return made


def test_reservation_list_costs_the_same_for_few_and_many(operator):
    url = reverse("admin:booking_reservation_changelist")
    _reservations(2)
    few = _queries(operator, url)
    _reservations(25)
    assert _queries(operator, url) == few


@pytest.mark.parametrize(
    "query",
    [
        "status__exact=held",
        "concert={concert}",
        "schedule={schedule}",
        "concert=abc",
        "schedule=99999999999999999999999",
        "concert=%00",
        "q=buyer",
        "q=%00",
        "q={id}",
        "seat__schedule__starts_at__gte=2020-01-01+00%3A00%3A00%2B00%3A00",
        "seat__schedule__starts_at__gte=nonsense",
    ],
)
def test_reservation_filters_and_search(operator, query):
    reservation = _reservations(2)[0]
    query = query.format(
        concert=reservation.seat.schedule.concert_id,
        schedule=reservation.seat.schedule_id,
        id=reservation.pk,
    )
    response = operator.get(reverse("admin:booking_reservation_changelist") + "?" + query)
    assert response.status_code in (200, 302)


def test_the_concert_filter_narrows_to_one_concert(operator):
    first, second = _reservations(2)
    url = reverse("admin:booking_reservation_changelist")
    page = operator.get(f"{url}?concert={first.seat.schedule.concert_id}").content.decode()
    assert f'value="{first.pk}"' in page and f'value="{second.pk}"' not in page
    # The filter's form keeps the other active filters.
    page = operator.get(f"{url}?status__exact=held&concert=1").content.decode()
    assert 'type="hidden" name="status__exact" value="held"' in page


def test_operator_releases_holds_and_seats_are_free_again(operator):
    from booking.models import Reservation

    held, other = _reservations(2)
    paid = _reservations(1, status="paid")[0]
    response = operator.post(
        reverse("admin:booking_reservation_changelist"),
        {"action": "release_holds", "_selected_action": [held.pk, paid.pk]},
        follow=True,
    )
    assert "Released 1 hold(s). 1 selected reservation(s) were not holds." in (
        response.content.decode()
    )
    held.refresh_from_db()
    held.seat.refresh_from_db()
    assert held.status == "cancelled" and held.seat.status == "available"
    assert Reservation.objects.get(pk=other.pk).status == "held"
    assert Reservation.objects.get(pk=paid.pk).status == "paid"


def test_reservations_are_read_only_in_the_console(operator):
    reservation = _reservations(1)[0]
    url = reverse("admin:booking_reservation_change", args=[reservation.pk])
    assert operator.get(url).status_code == 200
    assert operator.post(url, {"status": "paid"}).status_code == 403
    assert operator.get(reverse("admin:booking_reservation_add")).status_code == 403


# --- Queue console -------------------------------------------------------------------------


def test_queue_console_shows_the_room_and_applies_settings(operator, user, other_user):
    from queueing.selectors import site_room
    from queueing.services import queue_promote, queue_token_issue

    queue_token_issue(user_id=user.pk)
    queue_token_issue(user_id=other_user.pk)
    overview = operator.get(reverse("admin:queueing_queueroom_changelist")).content.decode()
    assert 'data-stat="waiting">2<' in overview and 'data-stat="active">0<' in overview
    url = reverse("admin:queueing_queueroom_console", args=["site"])
    page = operator.get(url).content.decode()
    assert 'data-stat="waiting">2<' in page and 'data-stat="active">0<' in page

    response = operator.post(
        url,
        {
            "mode": "fifo",
            "capacity": "1",
            "admit_per_tick": "5",
            "session_seconds": "300",
            "abandon_seconds": "60",
        },
        follow=True,
    )
    assert "Room settings saved" in response.content.decode()
    config = site_room()
    assert (config.capacity, config.admit_per_tick, config.mode) == (1, 5, "fifo")
    assert queue_promote() == 1  # the new capacity holds at the very next tick

    stats = operator.get(reverse("admin:queueing_queueroom_stats") + "?room=site").json()
    assert stats["waiting"] == 1 and stats["active"] == 1
    assert stats["admissions_per_minute"] > 0


_ROOM_REST = {"mode": "fifo", "admit_per_tick": "1", "session_seconds": "1", "abandon_seconds": "1"}


@pytest.mark.parametrize(
    "data",
    [
        {"capacity": "0", **_ROOM_REST},
        {"capacity": "-1", **_ROOM_REST},
        {"capacity": "abc", **_ROOM_REST},
        {"capacity": "5", **_ROOM_REST, "mode": "sideways"},
        {
            "mode": "fifo",
            "capacity": "9" * 30,
            "admit_per_tick": "1",
            "session_seconds": "1",
            "abandon_seconds": "1",
        },
        {},
    ],
)
def test_queue_console_refuses_impossible_settings(operator, data):
    from queueing.selectors import site_room

    before = site_room()
    response = operator.post(reverse("admin:queueing_queueroom_console", args=["site"]), data)
    assert response.status_code == 200
    assert "Please correct the errors below." in response.content.decode()
    assert site_room() == before


def test_queue_console_needs_staff(user):
    client = Client()
    client.force_login(user)
    response = client.get(reverse("admin:queueing_queueroom_changelist"))
    assert response.status_code == 302
    assert client.get(reverse("admin:queueing_queueroom_stats")).status_code == 302
    console = reverse("admin:queueing_queueroom_console", args=["site"])
    assert client.get(console).status_code == 302


# --- The catalog cache follows console edits -----------------------------------------------


def test_console_edits_and_generated_maps_reach_the_cached_catalog(
    operator, django_capture_on_commit_callbacks
):
    from booking.tests.catalog import cached_dates, cached_seats

    schedule = ScheduleFactory()
    concert_id = schedule.concert_id
    assert cached_dates(concert_id=concert_id) == []  # cached: no seats

    with django_capture_on_commit_callbacks(execute=True):
        _action(
            operator,
            reverse("admin:booking_concertschedule_changelist"),
            [schedule.pk],
            apply="1",
            rows="1",
            seats_per_row="2",
            tiers="S, 1, 500",
        )
    dates = cached_dates(concert_id=concert_id)
    assert [d["available_seats"] for d in dates] == [2]

    seat = Seat.objects.get(schedule=schedule, number=1)
    seats = cached_seats(concert_id=concert_id, schedule_id=schedule.pk)
    assert seats[0]["price"] == 500
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            reverse("admin:booking_seat_change", args=[seat.pk]),
            {"schedule": schedule.pk, "number": 1, "row": "A", "tier": "S", "price": "750"},
        )
    assert response.status_code == 302
    seats = cached_seats(concert_id=concert_id, schedule_id=schedule.pk)
    assert seats[0]["price"] == 750

    with django_capture_on_commit_callbacks(execute=True):
        operator.post(
            reverse("admin:booking_seat_changelist"),
            {"action": "delete_selected", "_selected_action": [seat.pk], "post": "yes"},
        )
    seats = cached_seats(concert_id=concert_id, schedule_id=schedule.pk)
    assert [s["number"] for s in seats] == [2]


# --- Who may act in the console ------------------------------------------------------------


def _staff(*codenames: str) -> Client:
    staff = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client


def test_staff_who_may_only_view_reservations_cannot_release_holds():
    from booking.models import Reservation

    held = _reservations(1)[0]
    viewer = _staff("view_reservation")
    url = reverse("admin:booking_reservation_changelist")
    assert "release_holds" not in viewer.get(url).content.decode()
    response = viewer.post(url, {"action": "release_holds", "_selected_action": [held.pk]})
    assert response.status_code == 403
    assert Reservation.objects.get(pk=held.pk).status == "held"
    assert Seat.objects.get(pk=held.seat_id).status == "held"


def test_staff_who_may_change_reservations_can_release_holds():
    from booking.models import Reservation

    held = _reservations(1)[0]
    clerk = _staff("view_reservation", "change_reservation")
    response = clerk.post(
        reverse("admin:booking_reservation_changelist"),
        {"action": "release_holds", "_selected_action": [held.pk]},
    )
    assert response.status_code == 302
    assert Reservation.objects.get(pk=held.pk).status == "cancelled"
    assert Seat.objects.get(pk=held.seat_id).status == "available"


@pytest.mark.parametrize(
    ("model", "may_change"),
    [("concert", "change_concert"), ("concertschedule", "change_concertschedule")],
)
def test_seat_maps_are_generated_only_by_staff_who_may_change_the_catalog(model, may_change):
    schedule = ScheduleFactory()
    url = reverse(f"admin:booking_{model}_changelist")
    selected = schedule.concert_id if model == "concert" else schedule.pk
    data = {"apply": "1", "rows": "1", "seats_per_row": "2", "tiers": ""}

    viewer = _staff(f"view_{model}")
    assert "generate_seat_maps" not in viewer.get(url).content.decode()
    assert _action(viewer, url, [selected], **data).status_code == 403
    assert not Seat.objects.exists()

    get_user_model().objects.filter(username="clerk").delete()
    editor = _staff(f"view_{model}", may_change)
    assert "generate_seat_maps" in editor.get(url).content.decode()
    assert _action(editor, url, [selected], **data).status_code == 302
    assert Seat.objects.filter(schedule=schedule).count() == 2


# --- Console edits write only what the operator changed ------------------------------------


def _seat_form(seat: Seat, **changes) -> dict:
    return {
        "schedule": seat.schedule_id,
        "number": seat.number,
        "row": seat.row,
        "tier": seat.tier,
        "price": seat.price,
        **changes,
    }


@pytest.mark.django_db(transaction=True)
def test_a_price_edit_keeps_a_hold_committed_while_the_form_was_saving(user):
    from booking import services as booking_services
    from payments import services as payment_services

    operator = Client()
    operator.force_login(get_user_model().objects.create_superuser("op", "op@example.com", "x"))
    seat = SeatFactory(price=80_000)
    holds: list[dict] = []

    def buyer_holds_first(sender, instance, **kwargs):
        # The console has loaded the row and is about to write it: a buyer's hold commits now.
        if holds:
            return

        def hold():
            try:
                holds.append(booking_services.reservation_hold(user=user, seat_id=seat.pk))
            finally:
                connection.close()

        thread = threading.Thread(target=hold)
        thread.start()
        thread.join()

    pre_save.connect(buyer_holds_first, sender=Seat, dispatch_uid="buyer-holds-first")
    try:
        response = operator.post(
            reverse("admin:booking_seat_change", args=[seat.pk]), _seat_form(seat, price=90_000)
        )
    finally:
        pre_save.disconnect(sender=Seat, dispatch_uid="buyer-holds-first")
    assert response.status_code == 302
    assert len(holds) == 1
    seat.refresh_from_db()
    assert (seat.status, seat.price) == ("held", 90_000)
    assert seat.held_until is not None
    # The buyer pays for the seat they hold, at the price they were shown.
    payment_services.wallet_charge(user=user, amount=100_000)
    payment_services.payment_create(user=user, reservation_id=holds[0]["reservation_id"])
    assert Seat.objects.get(pk=seat.pk).status == "sold"


def test_saving_an_unchanged_seat_writes_nothing(operator):
    seat = SeatFactory()
    with CaptureQueriesContext(connection) as captured:
        response = operator.post(
            reverse("admin:booking_seat_change", args=[seat.pk]), _seat_form(seat)
        )
    assert response.status_code == 302
    assert not [
        q for q in captured.captured_queries if q["sql"].startswith('UPDATE "booking_seat"')
    ]


# --- Moving rows between concerts clears both concerts' cached reads ---------------------


def test_moving_a_date_to_another_concert_clears_the_old_concerts_cache(
    operator, user, django_capture_on_commit_callbacks
):
    from booking import services as booking_services
    from booking.errors import ScheduleNotFound
    from booking.tests.catalog import cached_dates, cached_seats

    old, new = ConcertFactory(), ConcertFactory()
    schedule = ScheduleFactory(concert=old)
    seat = SeatFactory(schedule=schedule, number=1)
    assert [d["schedule_id"] for d in cached_dates(concert_id=old.pk)] == [schedule.pk]
    assert len(cached_seats(concert_id=old.pk, schedule_id=schedule.pk)) == 1

    local = timezone.localtime(schedule.starts_at)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            reverse("admin:booking_concertschedule_change", args=[schedule.pk]),
            {
                "concert": new.pk,
                "starts_at_0": local.strftime("%Y-%m-%d"),
                "starts_at_1": local.strftime("%H:%M:%S"),
            },
        )
        booking_services.reservation_hold(user=user, seat_id=seat.pk)
    assert response.status_code == 302
    assert ConcertSchedule.objects.get(pk=schedule.pk).concert_id == new.pk
    # The old concert no longer offers the date, let alone its held seat.
    assert cached_dates(concert_id=old.pk) == []
    with pytest.raises(ScheduleNotFound):
        cached_seats(concert_id=old.pk, schedule_id=schedule.pk)


def test_moving_a_seat_to_another_concerts_date_clears_the_old_concerts_cache(
    operator, django_capture_on_commit_callbacks
):
    from booking.tests.catalog import cached_seats

    here, there = ScheduleFactory(), ScheduleFactory()
    SeatFactory(schedule=here, number=1)
    moving = SeatFactory(schedule=here, number=2)

    def free_here() -> list[int]:
        seats = cached_seats(concert_id=here.concert_id, schedule_id=here.pk)
        return [s["number"] for s in seats]

    assert free_here() == [1, 2]
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            reverse("admin:booking_seat_change", args=[moving.pk]),
            _seat_form(moving, schedule=there.pk),
        )
    assert response.status_code == 302
    assert free_here() == [1]
    seats = cached_seats(concert_id=there.concert_id, schedule_id=there.pk)
    assert [s["number"] for s in seats] == [2]


# --- A NUL byte in any list's query string -------------------------------------------------


def _nul_queries(model_admin) -> list[str]:
    """Every parameter the list reads, each carrying a NUL byte."""
    queries = ["q=%00", "%00=1", "o=%00", "p=%00"]
    for entry in model_admin.list_filter:
        if isinstance(entry, str):
            queries += [f"{entry}__exact=%00", f"{entry}=%00"]
        elif isinstance(entry, tuple | list):
            queries += [f"{entry[0]}__gte=%00", f"{entry[0]}__exact=%00"]
        else:
            queries.append(f"{entry.parameter_name}=%00")
    if model_admin.date_hierarchy:
        queries.append(f"{model_admin.date_hierarchy}__year=%00")
    return queries


def _ours(model_admin) -> bool:
    return type(model_admin).__module__.split(".")[0] in ("accounts", "booking", "payments")


def test_a_nul_byte_in_any_list_filter_is_refused_kindly(operator):
    from django.contrib import admin

    _reservations(1, status="held")
    checked = 0
    for model, model_admin in admin.site._registry.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        filtered = bool(
            model_admin.list_filter or model_admin.search_fields or model_admin.date_hierarchy
        )
        for query in _nul_queries(model_admin):
            response = operator.get(f"{url}?{query}")
            assert response.status_code < 500, (url, query)
            if filtered and _ours(model_admin):
                # Back to the whole list, saying why.
                assert (response.status_code, response["Location"]) == (302, url), (url, query)
                checked += 1
    assert checked >= 40
    page = operator.get("/admin/booking/seat/?status__exact=%00", follow=True)
    assert "cannot contain a NUL" in page.content.decode()


def test_an_action_posted_to_a_list_with_a_nul_filter_does_nothing(operator):
    from booking.models import Reservation

    held = _reservations(1)[0]
    response = operator.post(
        reverse("admin:booking_reservation_changelist") + "?status__exact=%00",
        {"action": "release_holds", "_selected_action": [held.pk]},
    )
    assert response.status_code == 302
    assert Reservation.objects.get(pk=held.pk).status == "held"


def test_a_concerts_sale_start_set_in_the_admin_opens_its_room(operator):
    from queueing.selectors import room_of_concert

    concert = Concert.objects.create(title="Hot", performer="P", venue="V")
    url = reverse("admin:booking_concert_change", args=[concert.pk])
    form = {
        "title": "Hot",
        "performer": "P",
        "venue": "V",
        "description": "",
        "sale_starts_at": "2030-05-01 10:00:00",
        "schedules-TOTAL_FORMS": "0",
        "schedules-INITIAL_FORMS": "0",
    }
    response = operator.post(url, form)
    assert response.status_code == 302, response.content
    room = room_of_concert(concert.pk)
    assert room.sale_starts_at.year == 2030 and room.mode == "fifo"
    assert "2030" in operator.get(url).content.decode()
    # Cleared: on sale now, in the room it keeps.
    operator.post(url, {**form, "sale_starts_at": ""})
    assert room_of_concert(concert.pk).sale_starts_at is None


def test_editing_a_concert_leaves_its_room_alone(operator):
    from queueing.selectors import room_of_concert
    from queueing.services import room_save

    concert = Concert.objects.create(title="Hot", performer="P", venue="V")
    starts = timezone.now() - timedelta(minutes=1)
    room_save(concert_id=concert.pk, sale_starts_at=starts)
    seed = room_of_concert(concert.pk).seed
    url = reverse("admin:booking_concert_change", args=[concert.pk])
    form = operator.get(url).context["adminform"].form
    data = {
        **{name: form[name].value() or "" for name in ("performer", "venue", "description")},
        "title": "Hotter",
        "schedules-TOTAL_FORMS": "0",
        "schedules-INITIAL_FORMS": "0",
    }
    data["sale_starts_at"] = form["sale_starts_at"].value().strftime("%Y-%m-%d %H:%M:%S.%f")
    assert operator.post(url, data).status_code == 302
    room = room_of_concert(concert.pk)
    assert (room.sale_starts_at, room.seed) == (starts, seed)
