"""How many statements the money paths send: each one is a round trip under a row lock."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments import services
from payments.models import LedgerEntry, Wallet
from payments.tests.conftest import fund

pytestmark = pytest.mark.django_db


def test_payment_statements(write_path, user, held, django_assert_num_queries):
    """On PostgreSQL a payment is one call of payments_pay. As statements: lock, sell the seat,
    mark it paid, debit (RETURNING the balance), then the payment, its ledger row and its event
    (after commit, which a test's transaction never reaches, they read the buyer's remaining
    holds). Plus the test's savepoint."""
    fund(user, 100_000)
    statements = 1 if write_path == "function" else 7
    with django_assert_num_queries(statements + 2):
        services.payment_create(user=user, reservation_id=held["reservation_id"])
    assert Wallet.objects.get(user=user).balance == 20_000


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_payment_is_one_statement(user, held):
    """No BEGIN, COMMIT or savepoint around the call; the queue slot's release needs no read."""
    fund(user, 100_000)
    with CaptureQueriesContext(connection) as queries:
        services.payment_create(user=user, reservation_id=held["reservation_id"])
    assert [q["sql"] for q in queries.captured_queries] == [
        f"SELECT * FROM payments_pay({user.pk}, {held['reservation_id']}, "
        + queries.captured_queries[0]["sql"].split(", ", 2)[2]
    ]
    assert not connection.in_atomic_block
    assert Wallet.objects.get(user=user).balance == 20_000


def test_a_top_up_reads_its_balance_from_the_update(user, django_assert_num_queries):
    fund(user, 1)
    with django_assert_num_queries(2 + 2):  # the wallet UPDATE ... RETURNING, the ledger row
        assert services.wallet_charge(user=user, amount=5).body == {"balance": 6}
    assert LedgerEntry.objects.filter(wallet__user=user).count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("last_hold", [True, False], ids=["last-hold", "holds-left"])
def test_after_a_payment_the_slot_and_the_relay_mark_are_one_round_trip(
    user, redis_round_trips, last_hold
):
    """The queue slot's release (only for the last hold) and the relay mark in one pipeline. The
    mark is already set here, as under load, so nothing is published."""
    from django.core.cache import cache

    from booking import services as booking_services
    from booking.tests.factories import SeatFactory
    from payments.tests.conftest import queue_token_active
    from queueing.testing import admit

    fund(user, 300_000)
    token = admit(user)
    held = [
        booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=80_000).id)
        for _ in range(1 if last_hold else 2)
    ]
    cache.set(services.RELAY_QUEUED_KEY, 1)
    redis_round_trips.clear()
    services.payment_create(user=user, reservation_id=held[0]["reservation_id"])
    assert len(redis_round_trips) == 1
    assert queue_token_active(user, token) is not last_hold
    assert cache.get(services.RELAY_QUEUED_KEY) == 1


@pytest.mark.django_db(transaction=True)
def test_a_release_script_the_server_forgot_is_sent_again(user, settings):
    import redis

    from booking import services as booking_services
    from booking.tests.factories import SeatFactory
    from payments.tests.conftest import queue_token_active
    from queueing.testing import admit

    fund(user, 100_000)
    token = admit(user)
    held = booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=80_000).id)
    redis.Redis.from_url(settings.REDIS_URL).script_flush()  # as after a Redis restart
    services.payment_create(user=user, reservation_id=held["reservation_id"])
    assert not queue_token_active(user, token)
