"""The waiting rooms' figures for /metrics, read from the store when scraped (one script per
room). A room whose Redis does not answer reports `concertbooking_queue_room_up 0` alone."""

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from queueing.errors import QueueUnavailable
from queueing.selectors import room_stats, rooms_all


def rooms_collect() -> Iterable[Metric]:
    def gauge(name: str, documentation: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"concertbooking_queue_{name}", documentation, labels=["room"])

    up = gauge("room_up", "1 when the room's store answered this scrape, else 0.")
    waiting = gauge("waiting", "Places waiting, the pre-queue included.")
    prequeued = gauge("prequeued", "Places in the pre-queue, before the sale's start.")
    active = gauge("active", "People admitted whose slot has not lapsed.")
    per_minute = gauge(
        "admitted_per_minute", "Admissions per minute over the last minute (as the console)."
    )
    median_wait = gauge(
        "median_wait_seconds", "Median wait of the latest admissions (up to 1,000)."
    )
    admitted = CounterMetricFamily(
        "concertbooking_queue_admitted", "People admitted, all time.", labels=["room"]
    )
    abandoned = CounterMetricFamily(
        "concertbooking_queue_abandoned",
        "Places lost for not polling within the room's abandonment time, all time.",
        labels=["room"],
    )
    for config in rooms_all():
        room = [config.name]
        try:
            stats = room_stats(config)
        except QueueUnavailable:
            up.add_metric(room, 0)
            continue
        up.add_metric(room, 1)
        waiting.add_metric(room, stats.waiting)
        prequeued.add_metric(room, stats.prequeued)
        active.add_metric(room, stats.active)
        per_minute.add_metric(room, stats.admissions_per_minute)
        if stats.median_wait_seconds is not None:
            median_wait.add_metric(room, stats.median_wait_seconds)
        admitted.add_metric(room, stats.admitted_total)
        abandoned.add_metric(room, stats.abandoned_total)
    return [up, waiting, prequeued, active, per_minute, median_wait, admitted, abandoned]
