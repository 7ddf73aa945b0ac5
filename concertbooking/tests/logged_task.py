"""A task that only writes a log line, for the request-id tests (a worker loads it with -I)."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="tests.log_line", ignore_result=True)
def log_line(text: str) -> None:
    logger.warning("task says %s", text)
