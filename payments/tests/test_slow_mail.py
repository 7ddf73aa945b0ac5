"""A mail server that accepts and never answers holds up confirmation emails, never admissions.

Real processes: beat (redbeat), an `admissions` worker and a `celery` worker, over the test
database and the suite's Redis. Beside it the control: one worker for both queues, as before
admissions had their own, stalls while a mail hangs.
"""

from __future__ import annotations

import socket
import threading
import time
from itertools import pairwise

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth import get_user_model

from booking import services as booking_services
from booking.tests.factories import SeatFactory, UserFactory
from concertbooking.heartbeat import heartbeat_age
from concertbooking.redis import queue_redis
from payments import services
from payments.models import OutboxEvent
from payments.tests.conftest import fund
from queueing import services as queue_services
from queueing.keys import room_keys
from queueing.tests.celery_processes import CeleryProcesses

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EMAIL_TIMEOUT = 4
# Shorter than one stalled try (EMAIL_TIMEOUT), so all of it falls while a mail hangs.
WINDOW = 2.5
PROCESS_ENV = {
    "QUEUE_PROMOTE_INTERVAL_SECONDS": "0.25",
    "OUTBOX_RELAY_INTERVAL_SECONDS": "1",
    "EMAIL_TIMEOUT": str(EMAIL_TIMEOUT),
}


class StallingServer:
    """A loopback TCP server that accepts every connection and never sends a byte."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                self.accepted.append(self.listener.accept()[0])
            except TimeoutError:
                continue

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.listener.close()
        for conn in self.accepted:
            conn.close()


class Inbox:
    """aiosmtpd's handler: keeps whom each message was for."""

    def __init__(self):
        self.recipients: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.recipients.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def active() -> int:
    return queue_redis().zcard(room_keys("main").active)


def buyers_pay(count: int) -> list[str]:
    """`count` buyers each pay for a seat; returns their addresses (one email each is due)."""
    addresses = []
    for i in range(count):
        buyer = UserFactory(email=f"buyer{i}@example.test")
        fund(buyer, 1000)
        hold = booking_services.reservation_hold(user=buyer, seat_id=SeatFactory(price=500).id)
        services.payment_create(user=buyer, reservation_id=hold["reservation_id"])
        addresses.append(buyer.email)
    return addresses


@pytest.fixture
def waiting():
    """Many people waiting in the site-wide room, one admitted per tick."""
    User = get_user_model()
    User.objects.bulk_create(User(username=f"waiter{i}", password="!") for i in range(300))
    for pk in User.objects.filter(username__startswith="waiter").values_list("pk", flat=True):
        queue_services.queue_token_issue(user_id=pk)
    queue_services.queue_settings_update(capacity=1000, admit_per_tick=1)


def admitted_while_a_mail_hangs(procs: CeleryProcesses, stalling: StallingServer) -> list[int]:
    """How many people are active, every half second over WINDOW seconds that begin as a
    relay's SMTP conversation stalls."""
    # A conversation that begins from now: the window must not start before the caller's own
    # condition held.
    seen = len(stalling.accepted)
    procs.wait_for(
        lambda: len(stalling.accepted) > seen, timeout=30, what="a relay to reach the mail server"
    )
    counts = [active()]
    for _ in range(int(WINDOW / 0.5)):
        time.sleep(0.5)
        counts.append(active())
    return counts


def test_admissions_go_on_while_mail_hangs_and_the_mails_go_out_once_it_answers(waiting, tmp_path):
    addresses = buyers_pay(3)
    stalling = StallingServer()
    procs = CeleryProcesses(tmp_path, EMAIL_URL=f"smtp://127.0.0.1:{stalling.port}", **PROCESS_ENV)
    controller = None
    try:
        procs.worker("admissions", "admissions")
        procs.worker("worker", "celery")
        procs.beat("beat")

        # Ticks go on: someone is admitted in every half second (two ticks), and the heartbeat
        # is fresh at the end.
        # The admissions worker may come up after the mail worker has already stalled.
        procs.wait_for(lambda: active() > 0, timeout=30, what="the first admission")
        counts = admitted_while_a_mail_hangs(procs, stalling)
        assert all(later > earlier for earlier, later in pairwise(counts)), counts
        assert heartbeat_age() < 1
        assert not OutboxEvent.objects.filter(delivered_at__isnull=False).exists()

        # The mail server answers on the same port: every held-up email goes out.
        stalling.close()
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=stalling.port)
        controller.start()
        procs.wait_for(
            lambda: not OutboxEvent.objects.filter(delivered_at__isnull=True).exists(),
            timeout=30,
            what="the held-up emails",
        )
        assert sorted(set(inbox.recipients)) == addresses
        # Each worker ran only its own queue's tasks.
        assert "Task queueing.queue_promote[" not in procs.log("worker")
        assert "Task payments.outbox_relay[" not in procs.log("admissions")
    finally:
        procs.stop()
        stalling.close()
        if controller is not None:
            controller.stop()


def test_control_one_worker_for_both_queues_stops_admitting_while_mail_hangs(waiting, tmp_path):
    buyers_pay(3)
    stalling = StallingServer()
    procs = CeleryProcesses(tmp_path, EMAIL_URL=f"smtp://127.0.0.1:{stalling.port}", **PROCESS_ENV)
    try:
        procs.worker("worker", "celery,admissions")
        procs.beat("beat")
        # The worker takes the relay queued by the payments first and waits on the mail server;
        # the ticks beat sends meanwhile wait behind it and expire unrun.
        counts = admitted_while_a_mail_hangs(procs, stalling)
        assert counts == [counts[0]] * len(counts)
        assert "Sending due task queue-promote" in procs.log("beat")
    finally:
        procs.stop()
        stalling.close()
