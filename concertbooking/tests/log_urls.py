"""The site's routes plus one view that logs and queues a task, for the request-id tests."""

import logging

from django.http import HttpRequest, JsonResponse
from django.urls import path

from concertbooking.tests.logged_task import log_line
from concertbooking.urls import urlpatterns as site_urlpatterns

logger = logging.getLogger(__name__)


def log_and_queue(request: HttpRequest) -> JsonResponse:
    text = request.GET.get("text", "")
    logger.warning("view says %s", text)
    log_line.delay(text)
    return JsonResponse({"queued": text})


urlpatterns = [path("test/log-and-queue", log_and_queue), *site_urlpatterns]
