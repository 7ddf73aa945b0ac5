"""Booking tables: concerts, their dated schedules, the seats of each, reservations (a paid one
is a ticket), check-ins at the door and the sold-out dates' waiting lists."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from concertbooking.db import RandomHex32


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


class ReservationStatus(models.TextChoices):
    HELD = "held", "Held"
    PAID = "paid", "Paid"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"


# The statuses that own a seat; uk_reservation_seat_active allows one of them per seat.
ACTIVE_RESERVATION_STATUSES = [ReservationStatus.HELD, ReservationStatus.PAID]


class Reservation(models.Model):
    # db_index=False on both keys: ix_reservation_user_created and uk_reservation_seat_active
    # start with these columns and serve every lookup the application makes.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="reservations",
        db_index=False,
    )
    seat = models.ForeignKey(
        Seat, on_delete=models.CASCADE, related_name="reservations", db_index=False
    )
    # The price when the seat was held: the payment charges this, whatever the catalog says later.
    price = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=ReservationStatus.choices, default=ReservationStatus.HELD
    )
    # Equal to the seat's held_until while the hold lasts, so both sides agree on the deadline.
    expires_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The ticket's secret: shown to its buyer once paid, and kept after a refund, so the door
    # can tell a refunded ticket from a forged one. Made by the database for every row (raw
    # inserts too), from a random source: whoever knows it can check in.
    ticket_code = models.CharField(max_length=32, db_default=RandomHex32(), editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Serves the door's scan (WHERE ticket_code = ?); one ticket per code.
            models.UniqueConstraint(fields=["ticket_code"], name="uk_reservation_ticket_code"),
            # The oversell guard: at most one held-or-paid reservation per seat, whatever the
            # application does. Also serves "the hold on this seat" (WHERE seat_id = ? AND
            # status = 'held') when a new hold retires an expired one.
            models.UniqueConstraint(
                fields=["seat"],
                condition=Q(status__in=ACTIVE_RESERVATION_STATUSES),
                name="uk_reservation_seat_active",
            ),
            models.CheckConstraint(
                condition=~Q(status=ReservationStatus.PAID) | Q(paid_at__isnull=False),
                name="ck_reservation_paid_has_time",
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="ck_reservation_price"),
        ]
        indexes = [
            # Serves "my reservations" (WHERE user_id = ? ORDER BY created_at DESC) and the
            # per-user hold count (WHERE user_id = ? AND status = 'held' AND expires_at > now).
            models.Index(fields=["user", "created_at"], name="ix_reservation_user_created"),
            # Serves the expiry sweep (WHERE status = 'held' AND expires_at <= now); partial, so
            # it holds only the few live holds, not every reservation ever made.
            models.Index(
                fields=["expires_at"],
                name="ix_reservation_held_expires",
                condition=Q(status=ReservationStatus.HELD),
            ),
        ]

    def __str__(self) -> str:
        return f"Reservation {self.pk} of seat {self.seat_id} ({self.status})"


class CheckIn(models.Model):
    """A ticket scanned at the door: at most one per reservation, whoever scans it."""

    # db_index=False: uk_checkin_reservation starts with it and serves the lookups.
    reservation = models.ForeignKey(
        Reservation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The reservation's date, copied so the door's list per date needs no join.
    # db_index=False: ix_checkin_schedule_time starts with it.
    schedule = models.ForeignKey(
        ConcertSchedule, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    checked_in_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-checked_in_at", "-id"]
        permissions = [("check_in", "Can check tickets in at the door")]
        constraints = [
            # The double-entry guard: of any number of scans of one ticket, one inserts.
            models.UniqueConstraint(fields=["reservation"], name="uk_checkin_reservation"),
        ]
        indexes = [
            # Serves the check-ins of a date (WHERE schedule_id = ? ORDER BY checked_in_at)
            # and their count per date in the console.
            models.Index(fields=["schedule", "checked_in_at"], name="ix_checkin_schedule_time"),
        ]

    def __str__(self) -> str:
        return f"Check-in of reservation {self.reservation_id} at {self.checked_in_at:%H:%M:%S}"


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    # A returned seat is held for the entry's user (its `offer`) until the claim runs out.
    OFFERED = "offered", "Offered"
    PURCHASED = "purchased", "Purchased"
    LEFT = "left", "Left"
    # The offer ran out unclaimed; the seat passed on.
    LAPSED = "lapsed", "Lapsed"


# The statuses of an entry still in the list; uk_waitlist_user_schedule_active allows one each.
ACTIVE_WAITLIST_STATUSES = [WaitlistStatus.WAITING, WaitlistStatus.OFFERED]


class WaitlistEntry(models.Model):
    """A buyer waiting for a seat on a sold-out date; served in the order they joined."""

    # db_index=False: ix_waitlist_user_created starts with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # db_index=False: ix_waitlist_schedule_waiting and the unique key serve the lookups.
    schedule = models.ForeignKey(
        ConcertSchedule, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    status = models.CharField(
        max_length=10, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING
    )
    created_at = models.DateTimeField(default=timezone.now)
    # The hold made for this entry when a seat came back: the claim, paid through checkout.
    # CASCADE: a reservation goes only with its seat or buyer, and an offered entry must keep
    # its offer (ck_waitlist_offered_has_offer), so the entry goes with it.
    offer = models.ForeignKey(
        Reservation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    offered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One place in a date's list per user.
            models.UniqueConstraint(
                fields=["user", "schedule"],
                condition=Q(status__in=ACTIVE_WAITLIST_STATUSES),
                name="uk_waitlist_user_schedule_active",
            ),
            # A hold is one entry's offer; serves "is this reservation a claim" (WHERE
            # offer_id = ?).
            models.UniqueConstraint(
                fields=["offer"], condition=Q(offer__isnull=False), name="uk_waitlist_offer"
            ),
            models.CheckConstraint(
                condition=~Q(status=WaitlistStatus.OFFERED) | Q(offer__isnull=False),
                name="ck_waitlist_offered_has_offer",
            ),
        ]
        indexes = [
            # Serves "the next in line" (WHERE schedule_id = ? AND status = 'waiting' ORDER BY
            # created_at, id); partial, so it holds only the people still waiting.
            models.Index(
                fields=["schedule", "created_at", "id"],
                name="ix_waitlist_schedule_waiting",
                condition=Q(status=WaitlistStatus.WAITING),
            ),
            # Serves "my waiting lists" (WHERE user_id = ? ORDER BY created_at DESC).
            models.Index(fields=["user", "created_at"], name="ix_waitlist_user_created"),
        ]

    def __str__(self) -> str:
        return f"Waitlist entry {self.pk} of user {self.user_id} for {self.schedule_id}"
