"""Payment background work."""

from celery import shared_task


@shared_task(name="payments.outbox_relay", ignore_result=True)
def outbox_relay() -> int:
    return 0
