"""Catalog reads: concerts, the dates that still have seats, and the free seats of a date."""

from datetime import datetime

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.utils import timezone

from booking.errors import ConcertNotFound, ScheduleNotFound
from booking.models import Concert, ConcertSchedule, Seat, seat_free_q


def concert_list(*, now: datetime | None = None) -> QuerySet:
    """Concerts with their next future date (one query per page, served by the schedule key)."""
    now = now or timezone.now()
    next_date = (
        ConcertSchedule.objects.filter(concert=OuterRef("pk"), starts_at__gt=now)
        .order_by("starts_at")
        .values("starts_at")[:1]
    )
    return (
        Concert.objects.annotate(next_date=Subquery(next_date))
        .order_by("id")
        .values("id", "title", "performer", "venue", "next_date")
    )


def available_dates_queryset(*, concert_id: int, now: datetime | None = None) -> QuerySet:
    """The dates query: future schedules joined to their free seats through the seat key."""
    now = now or timezone.now()
    return (
        ConcertSchedule.objects.filter(concert_id=concert_id, starts_at__gt=now)
        .annotate(available_seats=Count("seats", filter=seat_free_q(now, prefix="seats__")))
        .filter(available_seats__gt=0)
        .order_by("starts_at")
        .values("id", "concert_id", "starts_at", "available_seats")
    )


def available_seats_queryset(*, schedule_id: int, now: datetime | None = None) -> QuerySet:
    """The seats query: one range scan of the seat key, already in seat-number order."""
    now = now or timezone.now()
    return (
        Seat.objects.filter(seat_free_q(now), schedule_id=schedule_id)
        .order_by("number")
        .values("id", "number", "row", "price")
    )


def concert_available_dates(*, concert_id: int, now: datetime | None = None) -> list[dict]:
    """Future dates of a concert that still have a free seat, with how many."""
    rows = list(available_dates_queryset(concert_id=concert_id, now=now))
    if not rows and not Concert.objects.filter(pk=concert_id).exists():
        raise ConcertNotFound()
    return [
        {
            "schedule_id": row["id"],
            "concert_id": row["concert_id"],
            "starts_at": row["starts_at"],
            "available_seats": row["available_seats"],
        }
        for row in rows
    ]


def schedule_available_seats(
    *, concert_id: int, schedule_id: int, now: datetime | None = None
) -> list[dict]:
    """Free seats of one date, by number; the date must belong to the concert."""
    if not ConcertSchedule.objects.filter(pk=schedule_id, concert_id=concert_id).exists():
        raise ScheduleNotFound()
    return [
        {"seat_id": row["id"], "number": row["number"], "row": row["row"], "price": row["price"]}
        for row in available_seats_queryset(schedule_id=schedule_id, now=now)
    ]
