"""Paying a party's holds at once: one debit of the total, a Payment, a ledger row and an event
per seat, all or none, replayed by its key, and the queue slot given back once all are paid."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from booking import services as booking_services
from booking.models import Reservation, ReservationStatus, Seat, SeatStatus
from booking.tests.factories import ScheduleFactory, SeatFactory, schedule_with_seats
from payments import services
from payments.errors import InsufficientBalance
from payments.models import LedgerEntry, LedgerKind, OutboxEvent, Payment, Wallet
from payments.tests.conftest import fund, ledger_sum, queue_token_active, snapshot
from queueing.selectors import site_room
from queueing.testing import admit

pytestmark = pytest.mark.django_db

PAY = "/api/reservation/payments"
PRICES = [150_000, 110_000, 80_000]


@pytest.fixture
def party(user) -> list[dict]:
    """Three seats of one date held together by `user`, priced differently."""
    schedule = ScheduleFactory()
    seats = [SeatFactory(schedule=schedule, price=price) for price in PRICES]
    return booking_services.reservation_hold(user=user, seat_ids=[seat.pk for seat in seats])


def ids(party) -> list[int]:
    return [hold["reservation_id"] for hold in party]


def admitted(user) -> tuple[APIClient, str]:
    client = APIClient()
    client.force_authenticate(user)
    token = admit(user)
    client.credentials(HTTP_QUEUE_TOKEN=token)
    return client, token


def test_one_debit_of_the_total_and_a_payment_per_seat(user, party):
    fund(user, 400_000)
    client, _ = admitted(user)
    response = client.post(PAY, {"reservation_ids": ids(party)[::-1]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"payments", "total", "balance"}
    assert body["total"] == sum(PRICES) == 340_000
    assert body["balance"] == 60_000
    assert [p["reservation_id"] for p in body["payments"]] == sorted(ids(party))
    assert [p["amount"] for p in body["payments"]] == PRICES
    assert [p["balance"] for p in body["payments"]] == [250_000, 140_000, 60_000]
    assert {p["status"] for p in body["payments"]} == {"paid"}

    payments = list(Payment.objects.order_by("reservation_id"))
    assert [p.pk for p in payments] == [p["payment_id"] for p in body["payments"]]
    assert [p.amount for p in payments] == PRICES
    debits = list(LedgerEntry.objects.filter(kind=LedgerKind.PAYMENT).order_by("pk"))
    assert [(e.payment_id, e.amount) for e in debits] == [(p.pk, -p.amount) for p in payments]
    # Written seat by seat, as if paid one after another, ending at the wallet's balance.
    assert [e.balance_after for e in debits] == [250_000, 140_000, 60_000]
    assert Wallet.objects.get(user=user).balance == ledger_sum(user) == 60_000
    assert sorted(OutboxEvent.objects.values_list("payload__payment_id", flat=True)) == sorted(
        p.pk for p in payments
    )
    assert set(Reservation.objects.values_list("status", flat=True)) == {ReservationStatus.PAID}
    assert set(Seat.objects.values_list("status", flat=True)) == {SeatStatus.SOLD}


def test_a_party_payment_statements(user, party, django_assert_num_queries):
    """The user, three reservation locks, one statement each for the three seats' sale and the
    reservations' mark, the debit and its read-back, then three payments, ledger rows and
    events. Plus the savepoint."""
    fund(user, 400_000)
    site_room()  # the rooms, read once per process every few seconds
    with django_assert_num_queries(1 + 3 + 2 + 2 + 9 + 2):
        services.payment_create(user=user, reservation_ids=ids(party))


def test_too_little_money_pays_none(user, party):
    fund(user, 339_999)
    before = snapshot()
    with pytest.raises(InsufficientBalance):
        services.payment_create(user=user, reservation_ids=ids(party))
    assert snapshot() == before


@pytest.mark.parametrize("trouble", ["expired", "paid", "foreign", "unknown"])
def test_one_bad_reservation_pays_none(user, other_user, party, trouble):
    fund(user, 1_000_000)
    named = ids(party)
    expected = {"expired": 410, "paid": 409, "foreign": 404, "unknown": 404}[trouble]
    if trouble == "expired":
        past = timezone.now() - timedelta(seconds=1)
        Reservation.objects.filter(pk=named[1]).update(expires_at=past)
        Seat.objects.filter(reservations__pk=named[1]).update(held_until=past)
    elif trouble == "paid":
        services.payment_create(user=user, reservation_id=named[1])
    elif trouble == "foreign":
        theirs = booking_services.reservation_hold(user=other_user, seat_id=SeatFactory().pk)
        named = [*named[:2], theirs["reservation_id"]]
    else:
        named = [*named[:2], 999_999_999]
    before = snapshot()
    client, _ = admitted(user)
    response = client.post(PAY, {"reservation_ids": named}, format="json")
    assert response.status_code == expected, response.content
    assert (
        response.json()["code"]
        == {
            410: "hold_expired",
            409: "already_paid",
            404: "reservation_not_found",
        }[expected]
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"reservation_ids": []}, "invalid"),
        ({"reservation_ids": [1, 1]}, "invalid"),
        ({"reservation_ids": [1, 2, 3, 4, 5]}, "too_many_seats"),
        ({"reservation_ids": [True]}, "invalid"),
        ({"reservation_id": 1, "reservation_ids": [1]}, "invalid"),
        ({}, "invalid"),
    ],
)
def test_bad_bodies_are_400_and_change_nothing(user, party, body, code):
    fund(user, 1_000_000)
    before = snapshot()
    client, _ = admitted(user)
    response = client.post(PAY, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert snapshot() == before
    # The gate's look at a raw body agrees with the view: none of these names reservations.
    assert services.payment_reservation_ids(body) == []


def test_seats_of_two_dates_may_be_paid_together(user):
    fund(user, 1_000_000)
    first = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)
    second = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)
    outcome = services.payment_create(
        user=user, reservation_ids=[first["reservation_id"], second["reservation_id"]]
    )
    assert outcome.status == 201 and len(outcome.body["payments"]) == 2


def test_the_same_key_replays_the_party_payment(user, party):
    fund(user, 400_000)
    client, _ = admitted(user)
    body = {"reservation_ids": ids(party)}
    first = client.post(PAY, body, format="json", HTTP_IDEMPOTENCY_KEY="party-1")
    again = client.post(PAY, body, format="json", HTTP_IDEMPOTENCY_KEY="party-1")
    assert (again.status_code, again.content) == (201, first.content)
    assert again["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 3
    assert Wallet.objects.get(user=user).balance == 60_000
    other = client.post(
        PAY, {"reservation_ids": ids(party)[:2]}, format="json", HTTP_IDEMPOTENCY_KEY="party-1"
    )
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")


def test_the_replay_passes_the_gate_after_the_slot_is_gone(
    user, party, django_capture_on_commit_callbacks
):
    fund(user, 400_000)
    client, token = admitted(user)
    body = {"reservation_ids": ids(party)}
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(PAY, body, format="json", HTTP_IDEMPOTENCY_KEY="party-2")
    assert not queue_token_active(user, token)
    again = client.post(PAY, body, format="json", HTTP_IDEMPOTENCY_KEY="party-2")
    assert (again.status_code, again.content) == (201, first.content)


def test_the_slot_goes_back_only_once_every_hold_is_paid(user, django_capture_on_commit_callbacks):
    fund(user, 1_000_000)
    client, token = admitted(user)
    seats = list(schedule_with_seats(4).seats.order_by("number").values_list("pk", flat=True))
    held = client.post("/api/reservation/concerts", {"seat_ids": seats}, format="json").json()
    named = [hold["reservation_id"] for hold in held["reservations"]]
    with django_capture_on_commit_callbacks(execute=True):
        paid = client.post(PAY, {"reservation_ids": named[:3]}, format="json")
    assert paid.status_code == 201
    assert queue_token_active(user, token)  # a fourth hold still waits to be paid
    with django_capture_on_commit_callbacks(execute=True):
        paid = client.post(PAY, {"reservation_ids": named[3:]}, format="json")
    assert paid.status_code == 201
    assert not queue_token_active(user, token)


def test_a_seat_of_a_paid_party_is_refunded_on_its_own(user, party):
    fund(user, 400_000)
    services.payment_create(user=user, reservation_ids=ids(party))
    assert services.payment_refund(reservation_id=ids(party)[1]) == 60_000 + PRICES[1]
    statuses = dict(Reservation.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids(party)] == ["paid", "cancelled", "paid"]
    assert Wallet.objects.get(user=user).balance == ledger_sum(user)
