"""Waiting rooms: the site-wide room and one per concert that has its own on-sale.

A row holds a room's live knobs; the site-wide room (no concert) falls back to settings.QUEUE_*
until an operator saves it. Rows are read through a short per-process cache (queueing.selectors).
"""

import secrets

from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce


def new_seed() -> str:
    """256 random bits: the draw's secret until the sale starts (only its SHA-256 is shown)."""
    return secrets.token_hex(32)


class RoomMode(models.TextChoices):
    FIFO = "fifo", "Queue (first come, first served)"
    PAUSED = "paused", "Paused (nobody admitted, places kept)"
    CLOSED = "closed", "Closed (nobody may join)"
    PASSTHROUGH = "passthrough", "Passthrough (everyone admitted at once)"


class QueueRoom(models.Model):
    # What an operator sets; the rest is who the room is for and its seed.
    SETTINGS = (
        "sale_starts_at",
        "mode",
        "next_mode",
        "next_mode_at",
        "capacity",
        "admit_per_tick",
        "session_seconds",
        "abandon_seconds",
    )

    concert = models.OneToOneField(
        "booking.Concert",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="queue_room",
        help_text="Empty: the site-wide room, which guards every concert without a room of its "
        "own.",
    )
    sale_starts_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the sale opens; the pre-queue opens PREQUEUE_MINUTES before. Empty: on "
        "sale now.",
    )
    mode = models.CharField(max_length=12, choices=RoomMode.choices, default=RoomMode.FIFO)
    next_mode = models.CharField(
        max_length=12, choices=RoomMode.choices, blank=True, help_text="A scheduled mode change."
    )
    next_mode_at = models.DateTimeField(
        null=True, blank=True, help_text="When the scheduled mode takes over."
    )
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
    # Secret until the sale starts; its SHA-256 is public from the moment the pre-queue opens.
    seed = models.CharField(max_length=64, default=new_seed, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = [F("concert_id").asc(nulls_first=True)]
        constraints = [
            # One room per concert and one site-wide room (a NULL concert counts as 0).
            models.UniqueConstraint(Coalesce("concert", Value(0)), name="uk_queue_room_concert"),
            models.CheckConstraint(condition=Q(capacity__gt=0), name="ck_room_capacity_positive"),
            models.CheckConstraint(
                condition=Q(admit_per_tick__gt=0), name="ck_room_admit_per_tick_positive"
            ),
            models.CheckConstraint(
                condition=Q(session_seconds__gt=0), name="ck_room_session_seconds_positive"
            ),
            models.CheckConstraint(
                condition=Q(abandon_seconds__gt=0), name="ck_room_abandon_seconds_positive"
            ),
            models.CheckConstraint(
                condition=Q(next_mode="") | Q(next_mode_at__isnull=False),
                name="ck_room_next_mode_has_time",
            ),
        ]

    def __str__(self) -> str:
        return "Site-wide room" if self.concert_id is None else f"Room of concert {self.concert_id}"
