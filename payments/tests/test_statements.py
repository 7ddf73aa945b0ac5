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
