"""Booking periodic work: the sweep that retires run-out holds, and the rooms' seat counts."""

from celery import shared_task

from booking import services


@shared_task(name="booking.holds_expire", ignore_result=True)
def holds_expire() -> int:
    return services.holds_expire()


@shared_task(name="booking.rooms_free_seats", ignore_result=True)
def rooms_free_seats() -> int:
    return services.rooms_free_seats_count()
