"""Payments, refunds and the outbox for /metrics, counted in PostgreSQL when scraped."""

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from payments.selectors import payment_counts


def payments_collect() -> Iterable[Metric]:
    counts = payment_counts()
    return [
        CounterMetricFamily(
            "concertbooking_payments", "Reservations paid, all time.", value=counts["payments"]
        ),
        CounterMetricFamily(
            "concertbooking_refunds", "Payments refunded, all time.", value=counts["refunds"]
        ),
        GaugeMetricFamily(
            "concertbooking_outbox_backlog",
            "Outbox events not delivered yet: due, backing off, or left to an operator.",
            value=counts["outbox_backlog"],
        ),
        GaugeMetricFamily(
            "concertbooking_outbox_given_up",
            "Undelivered outbox events that ran out of attempts and wait for an operator.",
            value=counts["outbox_given_up"],
        ),
    ]
