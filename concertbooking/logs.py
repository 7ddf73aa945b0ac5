"""Request ids on log lines: taken from the proxy or made here, returned, and carried to tasks.

django-guid holds the id in a context variable, stamps it on every record (the `request_id`
filter in LOGGING) and passes it to Celery tasks in a message header; this middleware only sets
it, with our own rule for which incoming ids to trust.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from logging.config import DictConfigurator, dictConfig

from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django_guid.context import guid

# What a proxy's id looks like (nginx's $request_id is 32 hex digits): short, and nothing that
# could break a header, a JSON string or a plain-text line.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")


class RequestIdMiddleware:
    """First in MIDDLEWARE, so every line logged while the request is handled carries its id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.header = settings.REQUEST_ID_HEADER
        self.meta_key = "HTTP_" + self.header.upper().replace("-", "_")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.META.get(self.meta_key)
        if request_id is None or not SANE_REQUEST_ID.fullmatch(request_id):
            # 32 hex digits like nginx's, without the cost of building a UUID object.
            request_id = os.urandom(16).hex()
        guid.set(request_id)
        response = self.get_response(request)
        response[self.header] = request_id
        return response


@receiver(request_finished)
def request_id_forget(**kwargs) -> None:
    """Django logs an error answer after the middleware returns, and gunicorn its access line
    once the body is sent: the id holds until the server closes the response, then goes, so a
    thread's lines between requests carry none."""
    guid.set(None)


def configure(config: dict) -> None:
    """LOGGING_CONFIG: LOGGING, and Python's warnings as records too, so that a warning is a line
    in LOG_FORMAT like any other, not bare text among the JSON."""
    dictConfig(config)
    logging.captureWarnings(True)


def handler_adopt(handler: logging.Handler) -> None:
    """Give a handler made outside LOGGING (gunicorn's own, in its master and workers) the
    console handler's line format and request-id filter."""
    configurator = DictConfigurator({})
    formatter = settings.LOGGING["formatters"][settings.LOG_FORMAT]
    handler.setFormatter(configurator.configure_formatter(dict(formatter)))
    handler.addFilter(
        configurator.configure_filter(dict(settings.LOGGING["filters"]["request_id"]))
    )
