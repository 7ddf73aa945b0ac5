"""Booking periodic work."""

from celery import shared_task


@shared_task(name="booking.holds_expire", ignore_result=True)
def holds_expire() -> int:
    return 0
