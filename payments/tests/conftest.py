"""Fixtures for the money tests: funded buyers, held seats and table snapshots."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from booking import services as booking_services
from booking.models import Reservation, Seat
from booking.tests.factories import SeatFactory
from concertbooking.celery import app as celery_app
from payments import services
from payments.models import IdempotencyKey, LedgerEntry, OutboxEvent, Payment, TopUp, Wallet
from queueing.errors import QueueTokenInvalid
from queueing.selectors import queue_token_status

STATEFUL = [Seat, Reservation, Wallet, LedgerEntry, TopUp, Payment, IdempotencyKey, OutboxEvent]


def snapshot() -> dict[str, list[dict]]:
    """Every row of every table a booking or payment request may change."""
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in STATEFUL}


def fund(user, amount: int) -> int:
    return services.wallet_charge(user=user, amount=amount).body["balance"]


def ledger_sum(user) -> int:
    return sum(LedgerEntry.objects.filter(wallet__user=user).values_list("amount", flat=True))


def queue_token_active(user, token: str) -> bool:
    """Whether `token` still opens the queue gate for `user`."""
    try:
        return queue_token_status(token=token, user_id=user.pk).status == "active"
    except QueueTokenInvalid:
        return False


@pytest.fixture
def held(user):
    """A seat priced 80,000 held by `user`; returns the hold as the API answered it."""
    seat = SeatFactory(price=80_000)
    return booking_services.reservation_hold(user=user, seat_id=seat.id)


@pytest.fixture
def celery_eager():
    """Run tasks inline, the way `make run` does, so an on-commit enqueue delivers at once."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def mail_server_down(settings, *, port: int = 1) -> None:
    """Send email over SMTP to 127.0.0.1:port: by default a port nothing listens on."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port


def back_offs_over(**lookup) -> None:
    """Time passes: the matching events' back-off is over."""
    OutboxEvent.objects.filter(**lookup).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


GATEWAY_SECRET = "test-gateway-secret"


@pytest.fixture
def deferred_gateway(settings):
    """Top-ups through a gateway that confirms later, by a callback signed with GATEWAY_SECRET."""
    settings.PAYMENT_GATEWAY = "deferred"
    settings.PAYMENT_GATEWAY_SECRET = GATEWAY_SECRET


def callback_body(payment_id: str, amount: int, status: str = "paid") -> bytes:
    return json.dumps({"payment_id": payment_id, "status": status, "amount": amount}).encode()


def signed(body: bytes, secret: str = GATEWAY_SECRET) -> str:
    """The Gateway-Signature of `body`: hex HMAC-SHA256 under `secret`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
