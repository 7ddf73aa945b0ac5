"""concertbooking: concert seat sales behind a fair virtual waiting room."""

from .celery import app as celery_app

__all__ = ("celery_app",)
