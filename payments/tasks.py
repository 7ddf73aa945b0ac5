"""Payment background work: relaying outbox events to their consumers."""

from celery import shared_task

from payments import services


@shared_task(name="payments.outbox_relay", ignore_result=True)
def outbox_relay(event_id: int | None = None) -> int:
    """Deliver one event right after its payment commits, or (from beat) whatever is left."""
    return services.outbox_relay(event_id=event_id)
