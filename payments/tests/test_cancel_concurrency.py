"""Cancellations under real contention on PostgreSQL: a ticket is refunded once, however many
cancels and refunds race for it, and the catalog shows its seat free as soon as it commits.

The control runs a naive cancel (read, then refund, no row lock) on the same threads and shows
the double refund the lock prevents.
"""

import threading
import time

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from booking.errors import TicketAlreadyCancelled, TicketCheckedIn
from booking.models import CheckIn, Reservation, ReservationStatus, Seat, SeatStatus
from booking.tests.factories import UserFactory
from booking.tests.parallel import Failed, run_parallel
from concertbooking.errors import Conflict
from payments import services
from payments.audit import invariants_audit
from payments.models import LedgerEntry, LedgerKind, Payment, Wallet
from payments.tests.conftest import ledger_sum
from payments.tests.test_cancellations import cancel_url, clean, paid_ticket
from queueing.testing import admit

pytestmark = pytest.mark.django_db(transaction=True)

RACE_WINDOW_SECONDS = 0.05
THREADS = 20


def refunds_of(reservation_id: int) -> int:
    return LedgerEntry.objects.filter(
        kind=LedgerKind.REFUND, payment__reservation_id=reservation_id
    ).count()


def naive_cancel(*, user, reservation_id: int) -> bool:
    """Read the ticket's status, then refund it, without locking the reservation."""
    with transaction.atomic():
        reservation = Reservation.objects.get(pk=reservation_id)
        if reservation.status != ReservationStatus.PAID:
            return False
        time.sleep(RACE_WINDOW_SECONDS)
        payment = Payment.objects.get(reservation_id=reservation_id)
        now = timezone.now()
        wallet_id, balance = services._wallet_add(user_id=user.pk, delta=payment.amount, now=now)
        LedgerEntry.objects.create(
            wallet_id=wallet_id,
            kind=LedgerKind.REFUND,
            amount=payment.amount,
            balance_after=balance,
            payment=payment,
            created_at=now,
        )
        Reservation.objects.filter(pk=reservation_id).update(status=ReservationStatus.CANCELLED)
        return True


def test_control_a_cancel_without_the_row_lock_refunds_twice():
    user = UserFactory()
    reservation_id = paid_ticket(user)

    results = run_parallel(
        [lambda: naive_cancel(user=user, reservation_id=reservation_id)] * THREADS
    )

    assert results.count(True) > 1
    assert refunds_of(reservation_id) > 1
    assert Wallet.objects.get(user=user).balance > 80_000
    report = invariants_audit()
    assert report["payments refunded more than once"]["count"] == 1
    assert report["refunds of more than their payment, or of none"]["count"] == 0


def test_20_parallel_cancels_of_one_ticket_refund_once():
    user = UserFactory()
    reservation_id = paid_ticket(user, extra=300)

    results = run_parallel(
        [lambda: services.ticket_cancel(user=user, reservation_id=reservation_id)] * THREADS
    )

    done = [r for r in results if not isinstance(r, Failed)]
    refused = [r.exc for r in results if isinstance(r, Failed)]
    assert [r.body["balance"] for r in done] == [80_300]
    assert len(refused) == THREADS - 1
    assert all(isinstance(exc, TicketAlreadyCancelled) for exc in refused)
    assert refunds_of(reservation_id) == 1
    assert Wallet.objects.get(user=user).balance == ledger_sum(user) == 80_300
    assert clean(invariants_audit())


def test_20_parallel_cancels_over_http_with_one_key_refund_once_and_replay():
    user = UserFactory()
    reservation_id = paid_ticket(user)
    clients = []
    for _ in range(THREADS):
        client = APIClient()
        client.force_authenticate(user)
        client.credentials(HTTP_IDEMPOTENCY_KEY="cancel-once")
        clients.append(client)

    def cancel(client: APIClient):
        response = client.post(cancel_url(reservation_id))
        return response.status_code, response.content, response.get("Idempotent-Replayed")

    results = run_parallel([lambda c=c: cancel(c) for c in clients])

    assert not [r for r in results if isinstance(r, Failed)]
    assert {(status, body) for status, body, _ in results} == {
        (
            200,
            (
                f'{{"reservation_id":{reservation_id},"status":"cancelled",'
                '"refunded":80000,"fee":0,"balance":80000}'
            ).encode(),
        )
    }
    assert sorted(replayed or "" for _, _, replayed in results) == [""] + ["true"] * (THREADS - 1)
    assert refunds_of(reservation_id) == 1
    assert Wallet.objects.get(user=user).balance == ledger_sum(user) == 80_000


def test_a_buyers_cancel_racing_the_operators_refund_refunds_once():
    user = UserFactory()
    tickets = [paid_ticket(user) for _ in range(6)]

    for reservation_id in tickets:
        # The cancel and the refund of one ticket start together.
        pair = run_parallel(
            [
                lambda r=reservation_id: services.ticket_cancel(user=user, reservation_id=r),
                lambda r=reservation_id: services.payment_refund(reservation_id=r),
            ]
        )
        failed = [r.exc for r in pair if isinstance(r, Failed)]
        assert len(failed) == 1 and isinstance(failed[0], Conflict), pair
        assert refunds_of(reservation_id) == 1
    assert Wallet.objects.get(user=user).balance == ledger_sum(user) == 6 * 80_000
    assert clean(invariants_audit())


def test_the_cached_catalog_shows_the_seat_free_at_once(django_assert_num_queries):
    user = UserFactory()
    reservation_id = paid_ticket(user)
    seat = Seat.objects.select_related("schedule").get(reservations__pk=reservation_id)
    concert_id, schedule_id = seat.schedule.concert_id, seat.schedule_id
    # Another buyer, in the queue's room, reads the catalog as the API serves it.
    reader = APIClient()
    reader_user = UserFactory()
    reader.force_authenticate(reader_user)
    reader.credentials(HTTP_QUEUE_TOKEN=admit(reader_user))
    seats_url = f"/api/concerts/{concert_id}/schedules/{schedule_id}/available-seats"
    dates_url = f"/api/concerts/{concert_id}/available-dates"

    def free_seats() -> list[int]:
        return [s["seat_id"] for s in reader.get(seats_url).json()]

    def free_on_date() -> int:
        dates = reader.get(dates_url).json()
        return {d["schedule_id"]: d["available_seats"] for d in dates}.get(schedule_id, 0)

    assert free_seats() == [] and free_on_date() == 0
    with django_assert_num_queries(0):  # the answers now come from the cache
        assert free_seats() == [] and free_on_date() == 0

    services.ticket_cancel(user=user, reservation_id=reservation_id)

    assert Seat.objects.get(pk=seat.pk).status == SeatStatus.AVAILABLE
    assert free_seats() == [seat.pk]
    assert free_on_date() == 1


def test_a_cancel_waiting_for_a_door_scan_sees_its_check_in():
    """The scan holds the reservation's row lock (as the door's check-in does) while the cancel
    comes in: the cancel waits for it and then finds the ticket checked in."""
    user = UserFactory()
    reservation_id = paid_ticket(user)
    scanning, cancel_started = threading.Event(), threading.Event()

    def scan() -> None:
        with transaction.atomic():
            reservation = (
                Reservation.objects.select_for_update()
                .select_related("seat")
                .get(pk=reservation_id)
            )
            CheckIn.objects.create(
                reservation=reservation, schedule_id=reservation.seat.schedule_id
            )
            scanning.set()
            cancel_started.wait(10)
            time.sleep(RACE_WINDOW_SECONDS * 4)  # the cancel is now waiting for the row

    def cancel():
        scanning.wait(10)
        cancel_started.set()
        return services.ticket_cancel(user=user, reservation_id=reservation_id)

    _, cancelled = run_parallel([scan, cancel])

    assert isinstance(cancelled, Failed) and isinstance(cancelled.exc, TicketCheckedIn)
    assert Reservation.objects.get(pk=reservation_id).status == ReservationStatus.PAID
    assert refunds_of(reservation_id) == 0
