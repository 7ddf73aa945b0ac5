"""Payment background work: relaying outbox events to their consumers, purging old keys."""

from celery import shared_task

from payments import services


@shared_task(name="payments.outbox_relay", ignore_result=True)
def outbox_relay(event_id: int | None = None) -> int:
    """Deliver the due events (queued after a payment or refund commits, and from beat)."""
    return services.outbox_relay(event_id=event_id)


@shared_task(name="payments.idempotency_keys_purge", ignore_result=True)
def idempotency_keys_purge() -> int:
    """Forget Idempotency-Keys older than IDEMPOTENCY_KEY_SECONDS (from beat)."""
    return services.idempotency_keys_purge()
