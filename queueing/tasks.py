"""Queue periodic work."""

from celery import shared_task

from queueing import services


@shared_task(name="queueing.queue_promote", ignore_result=True)
def queue_promote() -> int:
    return services.queue_promote_all()
