"""Holds and sales for /metrics, counted in PostgreSQL when scraped."""

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from booking.selectors import reservation_counts


def reservations_collect() -> Iterable[Metric]:
    counts = reservation_counts()
    return [
        GaugeMetricFamily(
            "concertbooking_holds_active",
            "Seats held and not yet paid, whose hold has not run out.",
            value=counts["holds_active"],
        ),
        GaugeMetricFamily(
            "concertbooking_sales",
            "Seats sold: paid reservations (a refund takes its seat off).",
            value=counts["sold"],
        ),
    ]
