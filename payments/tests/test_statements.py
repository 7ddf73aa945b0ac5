"""How many statements the money paths send (each a round trip under a row lock), and what a
payment does after commit."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments import services, tasks
from payments.models import LedgerEntry, Wallet
from payments.tests.conftest import fund
from queueing.selectors import site_room

pytestmark = pytest.mark.django_db


def test_payment_statements(user, held, django_assert_num_queries):
    """Lock the active user and the reservation, sell the seat, mark it paid, debit, read the
    balance back, then the payment, its ledger row and its event (after commit, which a test's
    transaction never reaches, the buyer's remaining holds are read). Plus the test's
    savepoint."""
    fund(user, 100_000)
    site_room()  # the rooms, read once per process every few seconds
    with django_assert_num_queries(9 + 2):
        services.payment_create(user=user, reservation_id=held["reservation_id"])
    assert Wallet.objects.get(user=user).balance == 20_000


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_payment_is_one_transaction(user, held):
    """The writes in one transaction; after it, the read of the buyer's remaining holds."""
    fund(user, 100_000)
    site_room()  # the rooms, read once per process every few seconds
    with CaptureQueriesContext(connection) as queries:
        services.payment_create(user=user, reservation_id=held["reservation_id"])
    sent = [q["sql"].split()[0] for q in queries.captured_queries]
    assert sent == [
        "BEGIN",
        "SELECT",
        "SELECT",
        "UPDATE",
        "UPDATE",
        "UPDATE",
        "SELECT",
        "INSERT",
        "INSERT",
        "INSERT",
        "COMMIT",
        "SELECT",
    ]
    assert not connection.in_atomic_block
    assert Wallet.objects.get(user=user).balance == 20_000


def test_a_top_up_statements(user, django_assert_num_queries):
    fund(user, 1)
    with django_assert_num_queries(7 + 2):
        # The active user's lock, today's top-ups, the top-up's INSERT; confirmed at once: the
        # top-up moved from pending, the wallet UPDATE, its balance, the ledger row.
        assert services.wallet_charge(user=user, amount=5).body == {"balance": 6}
    assert LedgerEntry.objects.filter(wallet__user=user).count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("last_hold", [True, False], ids=["last-hold", "holds-left"])
def test_after_a_payment_the_last_hold_frees_the_slot_and_a_queued_relay_is_not_queued_again(
    user, monkeypatch, last_hold
):
    """The relay mark is already set here, as under load, so nothing is published."""
    from django.core.cache import cache

    from booking import services as booking_services
    from booking.tests.factories import SeatFactory
    from payments.tests.conftest import queue_token_active
    from queueing.testing import admit

    published = []
    monkeypatch.setattr(tasks.outbox_relay, "delay", lambda *args: published.append(args))
    fund(user, 300_000)
    token = admit(user)
    held = [
        booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=80_000).id)
        for _ in range(1 if last_hold else 2)
    ]
    cache.set(services.RELAY_QUEUED_KEY, 1)
    services.payment_create(user=user, reservation_id=held[0]["reservation_id"])
    assert queue_token_active(user, token) is not last_hold
    assert cache.get(services.RELAY_QUEUED_KEY) == 1
    assert published == []


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
