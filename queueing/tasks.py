"""Queue periodic work."""

from celery import shared_task

from concertbooking.heartbeat import heartbeat_mark
from queueing import services


@shared_task(name="queueing.queue_promote", ignore_result=True)
def queue_promote() -> int:
    # Stamped first: the beat, the broker and the admissions worker delivered this tick, whatever
    # a room's Redis answers (readiness checks that on its own).
    heartbeat_mark()
    return services.queue_promote_all()
