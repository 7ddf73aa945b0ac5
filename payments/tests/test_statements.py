"""How many statements the money paths send: each one is a round trip under a row lock."""

import pytest

from payments import services
from payments.models import LedgerEntry, Wallet
from payments.tests.conftest import fund

pytestmark = pytest.mark.django_db


def test_payment_statements(user, held, django_assert_num_queries):
    """Lock, sell the seat, mark it paid, debit (RETURNING the balance), then the payment, its
    ledger row and its event; plus the test's savepoint."""
    fund(user, 100_000)
    with django_assert_num_queries(7 + 2):
        services.payment_create(user=user, reservation_id=held["reservation_id"])
    assert Wallet.objects.get(user=user).balance == 20_000


def test_a_top_up_reads_its_balance_from_the_update(user, django_assert_num_queries):
    fund(user, 1)
    with django_assert_num_queries(2 + 2):  # the wallet UPDATE ... RETURNING, the ledger row
        assert services.wallet_charge(user=user, amount=5).body == {"balance": 6}
    assert LedgerEntry.objects.filter(wallet__user=user).count() == 2
