"""After-commit relay requests: one queued relay serves every payment committed before it runs."""

import json

import pytest
import redis
from django.conf import settings
from django.core import mail

from booking import services as booking_services
from booking.tests.factories import SeatFactory, UserFactory
from payments import services
from payments.models import OutboxEvent
from payments.tests.conftest import fund

# Real commits, so the after-commit steps run as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def queued_tasks() -> list[str]:
    """Task names waiting on the broker's default queue (the suite runs no worker)."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return [json.loads(m)["headers"]["task"] for m in broker.lrange("celery", 0, -1)]


def pay_someone() -> None:
    buyer = UserFactory(email="buyer@example.test")
    fund(buyer, 1000)
    hold = booking_services.reservation_hold(user=buyer, seat_id=SeatFactory(price=500).id)
    services.payment_create(user=buyer, reservation_id=hold["reservation_id"])


def test_payments_share_one_queued_relay():
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("celery")
    pay_someone()
    assert queued_tasks() == ["payments.outbox_relay"]
    pay_someone()
    pay_someone()
    assert queued_tasks() == ["payments.outbox_relay"]  # the queued relay will find all three

    # What the worker does with it: clear the mark, then deliver everything committed.
    assert services.outbox_relay() == 3
    assert len(mail.outbox) == 3
    assert not OutboxEvent.objects.filter(delivered_at__isnull=True).exists()

    pay_someone()  # after the relay started: a relay of its own
    assert queued_tasks() == ["payments.outbox_relay"] * 2
