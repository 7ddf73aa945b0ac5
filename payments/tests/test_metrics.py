"""Holds, sales, payments, refunds and the outbox in /metrics, after real holds and payments."""

import pytest
from django.test import Client

from booking import services as booking_services
from booking.tests.factories import SeatFactory, UserFactory
from concertbooking.tests.scrape import scrape, value
from payments import services
from payments.models import OutboxEvent
from payments.tests.conftest import fund

pytestmark = pytest.mark.django_db


def _figures() -> dict[str, float]:
    scraped = scrape(Client())
    return {
        name: value(scraped, f"concertbooking_{name}")
        for name in (
            "holds_active",
            "sales",
            "payments_total",
            "refunds_total",
            "outbox_backlog",
            "outbox_given_up",
        )
    }


def test_money_figures_follow_real_holds_payments_and_refunds(user):
    assert _figures() == dict.fromkeys(
        ["holds_active", "sales", "payments_total", "refunds_total", "outbox_backlog"], 0.0
    ) | {"outbox_given_up": 0.0}

    other = UserFactory()
    fund(user, 300_000)
    holds = [
        booking_services.reservation_hold(user=user, seat_id=SeatFactory(price=50_000).pk)
        for _ in range(3)
    ]
    booking_services.reservation_hold(user=other, seat_id=SeatFactory().pk)
    assert _figures()["holds_active"] == 4

    for hold in holds[:2]:
        services.payment_create(user=user, reservation_id=hold["reservation_id"])
    services.payment_refund(reservation_id=holds[0]["reservation_id"])
    figures = _figures()
    assert (figures["holds_active"], figures["sales"]) == (2, 1)
    assert (figures["payments_total"], figures["refunds_total"]) == (2, 1)
    # Two confirmations and a refund's email wait for the relay (no worker runs here).
    undelivered = OutboxEvent.objects.filter(delivered_at__isnull=True)
    assert figures["outbox_backlog"] == undelivered.count() == 3

    undelivered.filter(pk=undelivered.first().pk).update(next_attempt_at=None)
    assert _figures()["outbox_given_up"] == 1
