"""Booking background work: the sweep that retires run-out holds, the rooms' seat counts, and
the emails of waiting-list offers."""

from smtplib import SMTPException

from celery import shared_task

from booking import services


@shared_task(name="booking.holds_expire", ignore_result=True)
def holds_expire() -> int:
    return services.holds_expire()


@shared_task(name="booking.rooms_free_seats", ignore_result=True)
def rooms_free_seats() -> int:
    return services.rooms_free_seats_count()


# A mail server outage is retried a few times; the offer itself also shows on the buyer's pages.
@shared_task(
    name="booking.waitlist_offer_email",
    ignore_result=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    max_retries=5,
)
def waitlist_offer_email(entry_id: int) -> bool:
    return services.waitlist_offer_email_send(entry_id=entry_id)
