"""Catalog tables: concerts, their dated schedules, and the seats of each schedule."""

from django.db import models
from django.db.models import Q


class Concert(models.Model):
    title = models.CharField(max_length=200)
    performer = models.CharField(max_length=200)
    venue = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.performer})"


class ConcertSchedule(models.Model):
    # db_index=False: the unique constraint below starts with concert_id and serves every
    # lookup by concert, so Django's own single-column FK index would be dead weight.
    concert = models.ForeignKey(
        Concert, on_delete=models.CASCADE, related_name="schedules", db_index=False
    )
    starts_at = models.DateTimeField()

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            # One date per concert and time. Also the index behind "future dates of a concert"
            # (WHERE concert_id = ? AND starts_at > now ORDER BY starts_at) and "next date".
            models.UniqueConstraint(
                fields=["concert", "starts_at"], name="uk_schedule_concert_starts_at"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.concert_id} @ {self.starts_at:%Y-%m-%d %H:%M}"


class SeatStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    HELD = "held", "Held"
    SOLD = "sold", "Sold"


class Seat(models.Model):
    # db_index=False: uk_schedule_id_seat_num starts with schedule_id and serves those lookups.
    schedule = models.ForeignKey(
        ConcertSchedule, on_delete=models.CASCADE, related_name="seats", db_index=False
    )
    number = models.PositiveIntegerField()
    row = models.CharField(max_length=8)
    tier = models.CharField(max_length=16, blank=True)
    price = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=SeatStatus.choices, default=SeatStatus.AVAILABLE
    )
    # A hold is free again once this passes, even before the sweep resets the row.
    held_until = models.DateTimeField(null=True, blank=True)
    # Bumped by every status change, so readers and caches can tell two states apart.
    version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["schedule_id", "number"]
        constraints = [
            # The seat key. Serves "free seats of a schedule ORDER BY number" and the per-schedule
            # counts behind available dates; without it one date lookup once took 20 s.
            models.UniqueConstraint(fields=["schedule", "number"], name="uk_schedule_id_seat_num"),
            models.CheckConstraint(condition=Q(price__gte=0), name="ck_seat_price_non_negative"),
            models.CheckConstraint(
                condition=~Q(status=SeatStatus.HELD) | Q(held_until__isnull=False),
                name="ck_seat_hold_has_deadline",
            ),
        ]
        indexes = [
            # Serves the expiry sweep: WHERE status = 'held' AND held_until <= now. Partial, so it
            # holds only the few seats on hold rather than every seat.
            models.Index(
                fields=["held_until"],
                name="ix_seat_held_until",
                condition=Q(status=SeatStatus.HELD),
            ),
        ]

    def __str__(self) -> str:
        return f"Seat {self.number} ({self.row}) of schedule {self.schedule_id}"


def seat_free_q(now, prefix: str = "") -> Q:
    """Seats a buyer may take at `now`: available, or held with the hold already over."""
    return Q(**{f"{prefix}status": SeatStatus.AVAILABLE}) | Q(
        **{f"{prefix}status": SeatStatus.HELD, f"{prefix}held_until__lte": now}
    )
