"""The outbox relay: one queued relay serves every payment committed before it runs, and the
email goes out with no transaction open and no row locked."""

import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import DatabaseError, connection, transaction
from psycopg.pq import TransactionStatus

from booking import services as booking_services
from booking.tests.factories import SeatFactory, UserFactory
from payments import services
from payments.models import OutboxEvent
from payments.tests.conftest import back_offs_over, fund, mail_server_down
from queueing.tests.test_concurrency import _test_database_url

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


def event_lock_probe(event_id: int) -> str:
    """From another connection (a thread of its own): can the event's row be locked at once?"""
    outcome = []

    def probe() -> None:
        try:
            with transaction.atomic():
                OutboxEvent.objects.select_for_update(nowait=True).filter(pk=event_id).exists()
            outcome.append("free")
        except DatabaseError:
            outcome.append("locked")
        finally:
            connection.close()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return outcome[0]


class ObservingBackend(EmailBackend):
    """Django's in-memory backend that notes, as each email is sent, the relay's transaction
    state and whether the event's row is locked."""

    seen: list[dict] = []

    def send_messages(self, messages):
        self.seen.append(
            {
                "in_atomic_block": connection.in_atomic_block,
                "server_side": connection.connection.info.transaction_status,
                "event_row": event_lock_probe(OutboxEvent.objects.get().pk),
            }
        )
        return super().send_messages(messages)


def test_the_email_goes_out_with_no_transaction_open_and_the_event_unlocked(settings):
    settings.EMAIL_BACKEND = f"{__name__}.ObservingBackend"
    ObservingBackend.seen = []
    pay_someone()
    event = OutboxEvent.objects.get()

    # Control: the probe does see a row lock when one is held.
    with transaction.atomic():
        OutboxEvent.objects.select_for_update().filter(pk=event.pk).exists()
        assert event_lock_probe(event.pk) == "locked"

    assert services.outbox_relay() == 1
    assert ObservingBackend.seen == [
        {"in_atomic_block": False, "server_side": TransactionStatus.IDLE, "event_row": "free"}
    ]
    assert len(mail.outbox) == 1
    event.refresh_from_db()
    assert (event.attempts, event.delivered_at is not None) == (1, True)


def test_a_relay_waiting_on_the_mail_server_keeps_others_from_its_event(settings):
    """While one relay waits on a mail server that accepted and stalls, a second relay neither
    waits for it nor sends the same email; the first records the failure when its try ends."""
    settings.EMAIL_TIMEOUT = 2
    with socket.create_server(("127.0.0.1", 0)) as stalling:  # accepts, never greets
        mail_server_down(settings, port=stalling.getsockname()[1])
        pay_someone()
        first = threading.Thread(target=lambda: (services.outbox_relay(), connection.close()))
        first.start()
        stalling.settimeout(10)
        talking, _ = stalling.accept()  # the first relay is in its SMTP conversation
        try:
            assert services.outbox_relay() == 0  # at once: nothing due, nothing waited for
            event = OutboxEvent.objects.get()
            assert (event.attempts, event.last_error, event.delivered_at) == (1, "", None)
            first.join()
        finally:
            talking.close()
    event.refresh_from_db()
    assert event.attempts == 1
    assert "timed out" in event.last_error


def test_a_relay_killed_mid_send_leaves_the_event_to_be_tried_again(settings):
    """A relay process dies (SIGKILL) while the mail server stalls: the event stays claimed, so
    nobody sends it meanwhile, and once the claim has run out the next relay delivers it."""
    pay_someone()
    with socket.create_server(("127.0.0.1", 0)) as stalling:
        relay = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import django; django.setup(); "
                "from payments.services import outbox_relay; outbox_relay()",
            ],
            cwd=Path(__file__).resolve().parents[2],
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "concertbooking.settings",
                "DATABASE_URL": _test_database_url(),
                "REDIS_URL": settings.REDIS_URL,
                "EMAIL_URL": f"smtp://127.0.0.1:{stalling.getsockname()[1]}",
                "EMAIL_TIMEOUT": "60",
            },
        )
        try:
            stalling.settimeout(30)
            talking, _ = stalling.accept()
            os.kill(relay.pid, signal.SIGKILL)
            relay.wait(timeout=10)
            talking.close()
        finally:
            if relay.poll() is None:
                relay.kill()
                relay.wait()
    event = OutboxEvent.objects.get()
    assert (event.attempts, event.delivered_at) == (1, None)
    assert services.outbox_relay() == 0  # still claimed by the dead relay: not sent twice at once
    assert mail.outbox == []
    back_offs_over(pk=event.pk)  # the claim has run out
    assert services.outbox_relay() == 1
    assert len(mail.outbox) == 1
    event.refresh_from_db()
    assert event.attempts == 2


class RetriedMidSendBackend(EmailBackend):
    """Relay A's try fails, but only once an operator has retried the event and relay B (a
    thread of its own) has claimed it again and is sending it; B's send waits for `release`."""

    sends: list[str] = []
    relay_b: threading.Thread | None = None
    b_sending = threading.Event()
    release = threading.Event()
    b_delivered: list[int] = []

    @classmethod
    def reset(cls) -> None:
        cls.sends, cls.b_delivered, cls.relay_b = [], [], None
        cls.b_sending.clear()
        cls.release.clear()

    def send_messages(self, messages):
        cls = type(self)
        if not cls.sends:
            cls.sends.append("A")
            assert services.outbox_retry(event_ids=[OutboxEvent.objects.get().pk]) == 1
            cls.relay_b = threading.Thread(target=cls.run_relay_b)
            cls.relay_b.start()
            assert cls.b_sending.wait(10)
            raise smtplib.SMTPServerDisconnected("relay A's mail server went away")
        if threading.current_thread() is cls.relay_b:
            cls.sends.append("B")
            cls.b_sending.set()
            assert cls.release.wait(10)
        else:
            cls.sends.append("C")
        return super().send_messages(messages)

    @classmethod
    def run_relay_b(cls) -> None:
        try:
            cls.b_delivered.append(services.outbox_relay())
        finally:
            connection.close()


def test_a_failed_try_leaves_a_claim_made_after_an_operator_retry_alone(settings):
    """Relay A claims an event; an operator retries it (attempts back to 0) and relay B claims
    it again (attempts 1 once more); then A's try fails. A's failure must leave B's claim
    alone, so that no third relay takes the event while B is still sending it."""
    settings.EMAIL_BACKEND = f"{__name__}.RetriedMidSendBackend"
    settings.OUTBOX_RELAY_INTERVAL_SECONDS = 0  # a failed try's back-off is over at once
    RetriedMidSendBackend.reset()
    pay_someone()

    try:
        assert services.outbox_relay() == 0  # relay A: its try failed
        while_b_sends = OutboxEvent.objects.get()
        assert services.outbox_relay() == 0  # relay C: still B's claim, nothing to take
    finally:
        RetriedMidSendBackend.release.set()
        if RetriedMidSendBackend.relay_b is not None:
            RetriedMidSendBackend.relay_b.join(10)
    assert (while_b_sends.attempts, while_b_sends.last_error) == (1, "")
    assert RetriedMidSendBackend.sends == ["A", "B"]
    assert RetriedMidSendBackend.b_delivered == [1]
    assert len(mail.outbox) == 1
    assert OutboxEvent.objects.get().delivered_at is not None
