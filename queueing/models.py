"""The operator's queue settings: one row, read through a short cache (queueing.selectors)."""

from django.db import models
from django.db.models import Q


class QueueSettings(models.Model):
    """Live knobs of the waiting room; with no row the defaults in settings.QUEUE_* apply."""

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    capacity = models.PositiveIntegerField(
        help_text="How many people may be in the booking flow at once."
    )
    admit_per_tick = models.PositiveIntegerField(
        help_text="At most this many people are let in per promotion tick."
    )
    session_seconds = models.PositiveIntegerField(
        help_text="How long an admitted person may stay in the booking flow."
    )
    abandon_seconds = models.PositiveIntegerField(
        help_text="A waiting person who has not polled for this long loses their place."
    )
    paused = models.BooleanField(
        default=False, help_text="Stop letting people in (the queue keeps its order)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "queue settings"
        verbose_name_plural = "queue settings"
        constraints = [
            # One row for the whole site: a second one would make "the" settings ambiguous.
            models.CheckConstraint(condition=Q(id=1), name="ck_queue_settings_single_row"),
            models.CheckConstraint(condition=Q(capacity__gt=0), name="ck_queue_capacity_positive"),
            models.CheckConstraint(
                condition=Q(admit_per_tick__gt=0), name="ck_queue_admit_per_tick_positive"
            ),
            models.CheckConstraint(
                condition=Q(session_seconds__gt=0), name="ck_queue_session_seconds_positive"
            ),
            models.CheckConstraint(
                condition=Q(abandon_seconds__gt=0), name="ck_queue_abandon_seconds_positive"
            ),
        ]

    def __str__(self) -> str:
        return "Queue settings"
