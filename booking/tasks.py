"""Booking periodic work: the sweep that retires run-out holds."""

from celery import shared_task

from booking import services


@shared_task(name="booking.holds_expire", ignore_result=True)
def holds_expire() -> int:
    return services.holds_expire()
