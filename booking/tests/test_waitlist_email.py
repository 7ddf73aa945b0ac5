"""The offer's email goes through the broker after commit, and says nothing once the offer is
over."""

import json

import pytest
import redis
from django.conf import settings
from django.core import mail

from booking import services
from booking.models import Reservation, WaitlistEntry
from booking.tests.factories import UserFactory
from booking.tests.test_waitlist import sold_out

# Real commits, so the after-commit enqueue runs as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def queued() -> list[tuple[str, str]]:
    """(task, its arguments as Celery shows them) waiting on the broker's default queue (the
    suite runs no worker)."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    headers = [json.loads(m)["headers"] for m in broker.lrange("celery", 0, -1)]
    return [(h["task"], h["argsrepr"]) for h in headers]


def test_the_offer_email_is_queued_after_commit_and_sent_while_the_offer_stands():
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("celery")
    schedule, holds = sold_out()
    waiter = UserFactory()
    services.waitlist_join(user=waiter, schedule_id=schedule.pk)
    released = holds[0]
    services.reservation_cancel(
        user=Reservation.objects.get(pk=released["reservation_id"]).user,
        reservation_id=released["reservation_id"],
    )
    entry = WaitlistEntry.objects.get(user=waiter)
    assert queued() == [("booking.waitlist_offer_email", f"({entry.pk},)")]

    # What the worker does with it.
    assert services.waitlist_offer_email_send(entry_id=entry.pk) is True
    (message,) = mail.outbox
    assert message.to == [waiter.email]
    assert f"/book/checkout/{entry.offer_id}" in message.body

    # Delivered late, after the buyer left the list: nothing is sent.
    services.waitlist_leave(user=waiter, schedule_id=schedule.pk)
    assert services.waitlist_offer_email_send(entry_id=entry.pk) is False
    assert len(mail.outbox) == 1
