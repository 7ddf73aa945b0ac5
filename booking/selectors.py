"""Catalog reads: concerts, the dates that still have seats, the free seats of a date, one's
reservations and waiting lists."""

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from booking import cache
from booking.errors import ConcertNotFound, InvalidCount, ScheduleNotFound
from booking.models import (
    ACTIVE_RESERVATION_STATUSES,
    ACTIVE_WAITLIST_STATUSES,
    Concert,
    ConcertSchedule,
    Reservation,
    ReservationStatus,
    Seat,
    SeatStatus,
    WaitlistEntry,
    WaitlistStatus,
    seat_free_q,
)
from concertbooking.rendering import json_body
from queueing.selectors import room_named


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
    """The dates query: future schedules joined to their seats through the seat key.

    Dates with no free seat stay in the rows (the caller drops them) so that `next_release_at`,
    the earliest live hold deadline, can bound how long the answer may be cached.
    """
    now = now or timezone.now()
    return (
        ConcertSchedule.objects.filter(concert_id=concert_id, starts_at__gt=now)
        .annotate(
            available_seats=Count("seats", filter=seat_free_q(now, prefix="seats__")),
            next_release_at=Min(
                "seats__held_until",
                filter=Q(seats__status=SeatStatus.HELD, seats__held_until__gt=now),
            ),
        )
        .order_by("starts_at")
        .values("id", "concert_id", "starts_at", "available_seats", "next_release_at")
    )


def available_seats_queryset(*, schedule_id: int, now: datetime | None = None) -> QuerySet:
    """The seats query: one range scan of the seat key, already in seat-number order."""
    now = now or timezone.now()
    return (
        Seat.objects.filter(seat_free_q(now), schedule_id=schedule_id)
        .order_by("number")
        .values("id", "number", "row", "price")
    )


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None


def _dates_reader(concert_id: int) -> Callable[[], tuple[list[dict], datetime | None]]:
    """Reads a concert's free dates from the database: (dates, when they may change by themselves).

    The answer may turn wrong without any write when a hold runs out (a seat comes free) or a
    date starts; the second value is the first such moment, which caps the cached entry's life.
    """

    def read() -> tuple[list[dict], datetime | None]:
        rows = list(available_dates_queryset(concert_id=concert_id))
        if not rows and not Concert.objects.filter(pk=concert_id).exists():
            raise ConcertNotFound()
        dates = [
            {
                "schedule_id": row["id"],
                "concert_id": row["concert_id"],
                "starts_at": row["starts_at"],
                "available_seats": row["available_seats"],
            }
            for row in rows
            if row["available_seats"] > 0
        ]
        changes_at = _earliest(
            *(row["next_release_at"] for row in rows), *(row["starts_at"] for row in rows)
        )
        return dates, changes_at

    return read


def _seats_reader(
    concert_id: int, schedule_id: int
) -> Callable[[], tuple[list[dict], datetime | None]]:
    """Reads a date's free seats: (seats by number, the earliest live hold's deadline). When that
    hold runs out its seat is free to readers at once, before any sweep."""

    def read() -> tuple[list[dict], datetime | None]:
        if not ConcertSchedule.objects.filter(pk=schedule_id, concert_id=concert_id).exists():
            raise ScheduleNotFound()
        now = timezone.now()
        seats = [
            {
                "seat_id": row["id"],
                "number": row["number"],
                "row": row["row"],
                "price": row["price"],
            }
            for row in available_seats_queryset(schedule_id=schedule_id, now=now)
        ]
        changes_at = Seat.objects.filter(
            schedule_id=schedule_id, status=SeatStatus.HELD, held_until__gt=now
        ).aggregate(first=Min("held_until"))["first"]
        return seats, changes_at

    return read


def _as_json(read: Callable[[], tuple[list[dict], datetime | None]]):
    def read_rendered() -> tuple[bytes, datetime | None]:
        value, changes_at = read()
        return json_body(value), changes_at

    return read_rendered


def concert_available_dates(*, concert_id: int) -> list[dict]:
    """Future dates of a concert that still have a free seat, with how many, from the database.
    Readers of the API get them cached: `concert_available_dates_json`."""
    return _dates_reader(concert_id)()[0]


def concert_available_dates_json(*, concert_id: int) -> bytes:
    """`concert_available_dates` as the API's JSON body, cached already rendered: a read is one
    Redis round trip, with nothing to unpickle into objects and render again per request."""
    return cache.cached(
        concert_id=concert_id, field="dates.json", compute=_as_json(_dates_reader(concert_id))
    )


def schedule_available_seats(*, concert_id: int, schedule_id: int) -> list[dict]:
    """Free seats of one date, by number, from the database; the date must belong to the
    concert. Readers of the API get them cached: `schedule_available_seats_json`."""
    return _seats_reader(concert_id, schedule_id)()[0]


def schedule_available_seats_json(*, concert_id: int, schedule_id: int) -> bytes:
    """`schedule_available_seats` as the API's JSON body, cached already rendered."""
    return cache.cached(
        concert_id=concert_id,
        field=f"seats.json:{schedule_id}",
        compute=_as_json(_seats_reader(concert_id, schedule_id)),
    )


# One statement over the date's seats, read along the seat key: the free seats split into runs
# of consecutive numbers per row (number minus its rank in the row), every start of N seats in a
# run is a block, and the best block wins: its worst seat's tier first in stage order (the tier
# first met walking from seat 1, row A), then the row nearest the stage, then the block nearest
# the row's centre, then the leftmost. The first row also carries the date's concert (to check the
# path) and its first live hold deadline (when the answer may change by itself).
_BEST_AVAILABLE_SQL = """
WITH seats AS (
    SELECT id, number, "row", tier, price, status, held_until,
           MIN(number) OVER (PARTITION BY tier, price) AS tier_rank,
           MIN(number) OVER (PARTITION BY "row") AS row_first,
           MAX(number) OVER (PARTITION BY "row") AS row_last
    FROM {seat} WHERE schedule_id = %(schedule)s
),
free AS (
    SELECT *, number - ROW_NUMBER() OVER (PARTITION BY "row" ORDER BY number) AS run
    FROM seats
    WHERE status = %(available)s OR (status = %(held)s AND held_until <= %(now)s)
),
blocks AS (
    SELECT number AS first, row_first, row_last,
           LAST_VALUE(number) OVER block AS last,
           COUNT(*) OVER block AS width,
           MAX(tier_rank) OVER block AS tier_rank
    FROM free
    WINDOW block AS (
        PARTITION BY "row", run ORDER BY number ROWS BETWEEN CURRENT ROW AND %(following)s FOLLOWING
    )
),
best AS (
    SELECT first, last FROM blocks WHERE width = %(count)s
    ORDER BY tier_rank, row_first, ABS(first + last - row_first - row_last), first
    LIMIT 1
),
dated AS (
    SELECT (SELECT concert_id FROM {schedule} WHERE id = %(schedule)s) AS concert_id,
           (SELECT MIN(held_until) FROM seats
            WHERE status = %(held)s AND held_until > %(now)s) AS changes_at
)
SELECT dated.concert_id, dated.changes_at, picked.id, picked.number, picked."row", picked.tier,
       picked.price
FROM dated LEFT JOIN (
    SELECT free.* FROM free JOIN best ON free.number BETWEEN best.first AND best.last
) AS picked ON TRUE
ORDER BY picked.number
"""


def _best_available_reader(
    concert_id: int, schedule_id: int, count: int
) -> Callable[[], tuple[dict, datetime | None]]:
    """Reads the best `count` free seats side by side in one row of a date, in one statement:
    ({"seats": [...], "total"}, the earliest live hold's deadline). No such seats: an empty
    list."""

    def read() -> tuple[dict, datetime | None]:
        with connection.cursor() as cursor:
            cursor.execute(
                _BEST_AVAILABLE_SQL.format(
                    seat=Seat._meta.db_table, schedule=ConcertSchedule._meta.db_table
                ),
                {
                    "schedule": schedule_id,
                    "count": count,
                    "following": count - 1,
                    "now": timezone.now(),
                    "available": SeatStatus.AVAILABLE.value,
                    "held": SeatStatus.HELD.value,
                },
            )
            rows = cursor.fetchall()
        if rows[0][0] != concert_id:
            raise ScheduleNotFound()
        seats = [
            {"seat_id": seat_id, "number": number, "row": row, "tier": tier, "price": price}
            for _, _, seat_id, number, row, tier, price in rows
            if seat_id is not None
        ]
        return {"seats": seats, "total": sum(seat["price"] for seat in seats)}, rows[0][1]

    return read


def best_available_count_check(count: object) -> int:
    """The party size asked for, a whole number from 1 to HOLD_LIMIT_PER_USER, else
    InvalidCount: a block is held at once, so no larger one can be of use."""
    text = str(count) if count is not None else ""
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= settings.HOLD_LIMIT_PER_USER):
        raise InvalidCount(
            f"count must be a whole number from 1 to {settings.HOLD_LIMIT_PER_USER}."
        )
    return int(text)


def schedule_best_available(*, concert_id: int, schedule_id: int, count: int) -> dict:
    """The best `count` free seats side by side in one row of a date (see _BEST_AVAILABLE_SQL),
    with their total, from the database; `{"seats": [], "total": 0}` when no row has so many
    free together. Readers of the API get them cached: `schedule_best_available_json`."""
    return _best_available_reader(concert_id, schedule_id, best_available_count_check(count))()[0]


def schedule_best_available_json(*, concert_id: int, schedule_id: int, count: int) -> bytes:
    """`schedule_best_available` as the API's JSON body, cached already rendered."""
    count = best_available_count_check(count)
    return cache.cached(
        concert_id=concert_id,
        field=f"best.json:{schedule_id}:{count}",
        compute=_as_json(_best_available_reader(concert_id, schedule_id, count)),
    )


def concert_get(*, concert_id: int) -> dict:
    """One concert's details for its page."""
    concert = (
        Concert.objects.filter(pk=concert_id)
        .values("id", "title", "performer", "venue", "description")
        .first()
    )
    if concert is None:
        raise ConcertNotFound()
    return concert


def concerts_upcoming_dates(
    *, concert_ids: list[int], per_concert: int = 3, now: datetime | None = None
) -> dict[int, list[datetime]]:
    """The next few dates of each listed concert, in one query (a window over the schedule key)."""
    now = now or timezone.now()
    rows = (
        ConcertSchedule.objects.filter(concert_id__in=concert_ids, starts_at__gt=now)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("concert_id")], order_by=F("starts_at").asc())
        )
        .filter(rank__lte=per_concert)
        .order_by("concert_id", "starts_at")
        .values_list("concert_id", "starts_at")
    )
    dates: dict[int, list[datetime]] = {concert_id: [] for concert_id in concert_ids}
    for concert_id, starts_at in rows:
        dates[concert_id].append(starts_at)
    return dates


def concert_dates(*, concert_id: int, now: datetime | None = None) -> list[dict]:
    """Every future date of a concert with its free-seat count, sold-out dates included."""
    now = now or timezone.now()
    return [
        {"schedule_id": row["id"], "starts_at": row["starts_at"], "free": row["free"]}
        for row in ConcertSchedule.objects.filter(concert_id=concert_id, starts_at__gt=now)
        .annotate(free=Count("seats", filter=seat_free_q(now, prefix="seats__")))
        .order_by("starts_at")
        .values("id", "starts_at", "free")
    ]


def _status_now(*, now: datetime, status: str, deadline: str, then: str) -> Case:
    """The status column as its reader sees it at `now`: a row still `status` whose `deadline`
    has passed already reads `then`, before any sweep writes it."""
    return Case(
        When(**{"status": status, f"{deadline}__lte": now}, then=Value(then)),
        default=F("status"),
        output_field=CharField(),
    )


def seat_effective_status(now: datetime) -> Case:
    """A seat's status as a buyer sees it: a hold past its deadline is already free."""
    return _status_now(
        now=now, status=SeatStatus.HELD, deadline="held_until", then=SeatStatus.AVAILABLE.value
    )


def schedule_seat_map(*, schedule_id: int, now: datetime | None = None) -> dict:
    """Every seat of one date with its effective status, by row, plus the price legend.

    Two queries whatever the size: the date with its concert, then one range scan of the seat
    key that is already in row order.
    """
    now = now or timezone.now()
    schedule = (
        ConcertSchedule.objects.filter(pk=schedule_id)
        .values(
            "id",
            "starts_at",
            "concert_id",
            title=F("concert__title"),
            performer=F("concert__performer"),
            venue=F("concert__venue"),
        )
        .first()
    )
    if schedule is None:
        raise ScheduleNotFound()
    seats = (
        Seat.objects.filter(schedule_id=schedule_id)
        .order_by("number")
        .values_list("id", "number", "row", "tier", "price", seat_effective_status(now))
    )
    rows: dict[str, list[dict]] = {}
    tiers: dict[tuple[str, int], None] = {}
    counts = {status.value: 0 for status in SeatStatus}
    for seat_id, number, row, tier, price, status in seats:
        rows.setdefault(row, []).append(
            {
                "seat_id": seat_id,
                "number": number,
                "row": row,
                "tier": tier,
                "price": price,
                "status": status,
            }
        )
        tiers.setdefault((tier, price), None)
        counts[status] = counts.get(status, 0) + 1
    # Tiers in stage order (first seen while walking from row A), each with a stable colour slot.
    legend = [
        {"tier": tier, "price": price, "slot": index % 6}
        for index, (tier, price) in enumerate(tiers)
    ]
    slot_of = {(entry["tier"], entry["price"]): entry["slot"] for entry in legend}
    for row_seats in rows.values():
        for seat in row_seats:
            seat["slot"] = slot_of[(seat["tier"], seat["price"])]
    return {
        "schedule": schedule,
        "rows": [{"label": label, "seats": row_seats} for label, row_seats in rows.items()],
        "columns": max((len(row_seats) for row_seats in rows.values()), default=0),
        "tiers": legend,
        "counts": counts,
        "now": now,
    }


# --- Reservations -------------------------------------------------------------------------------


def reservation_status_now(now: datetime) -> Case:
    """A reservation's status as its owner sees it: a hold past its deadline is already expired."""
    return _status_now(
        now=now,
        status=ReservationStatus.HELD,
        deadline="expires_at",
        then=ReservationStatus.EXPIRED.value,
    )


def reservation_list(*, user_id: int, now: datetime | None = None) -> QuerySet:
    """A user's reservations, newest first, with seat, date and concert: one query per page.

    Served by ix_reservation_user_created (WHERE user_id = ? ORDER BY created_at DESC).
    """
    now = now or timezone.now()
    return (
        Reservation.objects.filter(user_id=user_id)
        .order_by("-created_at", "-id")
        .values(
            "seat_id",
            "price",
            "expires_at",
            "paid_at",
            "created_at",
            reservation_id=F("id"),
            status_now=reservation_status_now(now),
            seat_number=F("seat__number"),
            seat_row=F("seat__row"),
            schedule_id=F("seat__schedule_id"),
            starts_at=F("seat__schedule__starts_at"),
            concert_id=F("seat__schedule__concert_id"),
            concert_title=F("seat__schedule__concert__title"),
            shown_ticket_code=paid_ticket_code(),
        )
    )


def ticket_cancel_deadline(starts_at: datetime) -> datetime:
    """Until when its buyer may cancel a paid ticket for a date starting at `starts_at`:
    CANCEL_UNTIL_HOURS before the show, and never once it has started."""
    return min(starts_at, starts_at - timedelta(hours=settings.CANCEL_UNTIL_HOURS))


def paid_ticket_code() -> Case:
    """The reservation's ticket code once it is paid, else NULL: a hold's, an expired one's
    and a refunded one's code is never shown."""
    return Case(
        When(status=ReservationStatus.PAID, then=F("ticket_code")),
        default=None,
        output_field=CharField(),
    )


def ticket_get(*, reservation_id: int, user_id: int | None = None) -> dict | None:
    """A paid ticket with all its PDF and email show (and `user_id`'s only, when given), or
    None: a hold, an expired or a refunded reservation is no ticket. One query."""
    tickets = Reservation.objects.filter(pk=reservation_id, status=ReservationStatus.PAID)
    if user_id is not None:
        tickets = tickets.filter(user_id=user_id)
    ticket = tickets.values(
        "price",
        "paid_at",
        "ticket_code",
        reservation_id=F("id"),
        seat_number=F("seat__number"),
        seat_row=F("seat__row"),
        tier=F("seat__tier"),
        schedule_id=F("seat__schedule_id"),
        starts_at=F("seat__schedule__starts_at"),
        concert_title=F("seat__schedule__concert__title"),
        performer=F("seat__schedule__concert__performer"),
        venue=F("seat__schedule__concert__venue"),
        holder=F("user__username"),
        holder_first_name=F("user__first_name"),
        holder_last_name=F("user__last_name"),
    ).first()
    if ticket is not None:
        ticket["holder_name"] = holder_name(
            ticket.pop("holder_first_name"), ticket.pop("holder_last_name")
        )
    return ticket


def holder_name(first_name: str, last_name: str) -> str | None:
    """A ticket holder's full name, or None when they gave none."""
    return f"{first_name} {last_name}".strip() or None


def check_in_dates(*, now: datetime | None = None, limit: int = 60) -> list[dict]:
    """The dates a door may check in for: from the start of today (local time) on, soonest
    first, so today's come first."""
    now = timezone.localtime(now or timezone.now())
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return list(
        ConcertSchedule.objects.filter(starts_at__gte=today)
        .order_by("starts_at", "id")
        .values("id", "starts_at", concert_title=F("concert__title"))[:limit]
    )


def party_holds(*, user_id: int, schedule_id: int, now: datetime | None = None) -> QuerySet:
    """The user's live holds on one date, by seat number, as `reservation_list` rows with the
    seat's tier: the party a checkout pays together. A waiting list's offer is paid on its own
    (without a queue place) and is no part of it. One query on ix_reservation_user_created."""
    now = now or timezone.now()
    return (
        reservation_list(user_id=user_id, now=now)
        .filter(seat__schedule_id=schedule_id, status=ReservationStatus.HELD, expires_at__gt=now)
        .exclude(is_waitlist_offer())
        .annotate(tier=F("seat__tier"))
        .order_by("seat__number")
    )


def holds_keeping_slot(*, user_id: int, room: str, now: datetime | None = None) -> QuerySet:
    """The user's live holds that keep their slot in `room`: in a concert's room only that
    concert's, in the site-wide room any. A waiting list's offer is paid without a slot and
    keeps none."""
    holds = Reservation.objects.filter(
        user_id=user_id, status=ReservationStatus.HELD, expires_at__gt=now or timezone.now()
    ).exclude(is_waitlist_offer())
    config = room_named(room)
    if config is not None and config.concert_id is not None:
        holds = holds.filter(seat__schedule__concert_id=config.concert_id)
    return holds


def is_waitlist_offer() -> Exists:
    """Whether a reservation is a hold a waiting list made (one lookup on uk_waitlist_offer)."""
    return Exists(WaitlistEntry.objects.filter(offer_id=OuterRef("pk")))


def reservations_claimed(
    *, user_id: int, reservation_ids: list[int], now: datetime | None = None
) -> bool:
    """Whether every one of these is a live hold a waiting list made for the user (an offer
    being claimed): such holds are paid without a queue place. One lookup on uk_waitlist_offer."""
    wanted = set(reservation_ids)
    if not wanted:
        return False
    claimed = WaitlistEntry.objects.filter(
        offer_id__in=wanted,
        user_id=user_id,
        status=WaitlistStatus.OFFERED,
        offer__status=ReservationStatus.HELD,
        offer__expires_at__gt=now or timezone.now(),
    ).count()
    return claimed == len(wanted)


def reservation_counts(*, now: datetime | None = None) -> dict[str, int]:
    """Live holds and sold seats, for the metrics. One query over the held-or-paid rows only
    (the predicate of uk_reservation_seat_active): at most one per seat, whatever the history."""
    now = now or timezone.now()
    return Reservation.objects.filter(status__in=ACTIVE_RESERVATION_STATUSES).aggregate(
        holds_active=Count("pk", filter=Q(status=ReservationStatus.HELD, expires_at__gt=now)),
        sold=Count("pk", filter=Q(status=ReservationStatus.PAID)),
    )


# --- Waiting lists ------------------------------------------------------------------------------


def waitlist_status_now(now: datetime) -> Case:
    """An entry's status as its owner sees it: an offer past its claim has already lapsed."""
    return _status_now(
        now=now,
        status=WaitlistStatus.OFFERED,
        deadline="offer__expires_at",
        then=WaitlistStatus.LAPSED.value,
    )


def _waiting_ahead() -> Subquery:
    """How many wait on the entry's date before it (served by ix_waitlist_schedule_waiting)."""
    return Subquery(
        WaitlistEntry.objects.filter(
            Q(created_at__lt=OuterRef("created_at"))
            | Q(created_at=OuterRef("created_at"), id__lt=OuterRef("id")),
            schedule_id=OuterRef("schedule_id"),
            status=WaitlistStatus.WAITING,
        )
        .order_by()
        .values("schedule_id")
        .annotate(n=Count("pk"))
        .values("n"),
        output_field=IntegerField(),
    )


def waitlist_entries(*, user_id: int, now: datetime | None = None) -> QuerySet:
    """The user's entries still in a list (waiting, or offered a seat) for dates to come,
    soonest date first, with their place in line (1 = next; none once offered) and the offered
    seat: one query.

    An offer whose claim ran out reads `lapsed` until the sweep passes its seat on.
    """
    now = now or timezone.now()
    return (
        WaitlistEntry.objects.filter(
            user_id=user_id, status__in=ACTIVE_WAITLIST_STATUSES, schedule__starts_at__gt=now
        )
        .order_by("schedule__starts_at", "id")
        .values(
            "schedule_id",
            "created_at",
            "offered_at",
            entry_id=F("id"),
            concert_id=F("schedule__concert_id"),
            concert_title=F("schedule__concert__title"),
            starts_at=F("schedule__starts_at"),
            status_now=waitlist_status_now(now),
            position=Case(
                When(
                    status=WaitlistStatus.WAITING,
                    then=Coalesce(_waiting_ahead(), 0) + 1,
                ),
                default=None,
                output_field=IntegerField(),
            ),
            reservation_id=F("offer_id"),
            seat_id=F("offer__seat_id"),
            seat_number=F("offer__seat__number"),
            seat_row=F("offer__seat__row"),
            price=F("offer__price"),
            expires_at=F("offer__expires_at"),
        )
    )


def waitlist_offers_live(*, user_id: int, now: datetime | None = None) -> list[dict]:
    """The seats waiting lists hold for the user right now, for their pages."""
    now = now or timezone.now()
    return list(
        waitlist_entries(user_id=user_id, now=now).filter(
            status=WaitlistStatus.OFFERED, offer__expires_at__gt=now
        )
    )


def concert_waitlist_dates(
    *, concert_id: int, user_id: int, now: datetime | None = None, limit: int = 50
) -> list[dict]:
    """A concert's future dates, each sold out or not, with the user's entry on it: for the
    waiting-list page, outside the queue. The free counts come from the cached dates read (one
    Redis round trip while it is fresh), so a crowd on this page costs no seat scans."""
    now = now or timezone.now()
    free = {
        row["schedule_id"]: row["available_seats"]
        for row in json.loads(concert_available_dates_json(concert_id=concert_id))
    }
    entries = {
        row["schedule_id"]: row
        for row in waitlist_entries(user_id=user_id, now=now).filter(
            schedule__concert_id=concert_id
        )
    }
    return [
        {
            "schedule_id": row["id"],
            "starts_at": row["starts_at"],
            "free": free.get(row["id"], 0),
            "entry": entries.get(row["id"]),
        }
        for row in ConcertSchedule.objects.filter(concert_id=concert_id, starts_at__gt=now)
        .order_by("starts_at")
        .values("id", "starts_at")[:limit]
    ]


def waitlist_offer_for_email(*, entry_id: int, now: datetime | None = None) -> dict | None:
    """What the offer's email shows, while the offer stands and its buyer has an address."""
    now = now or timezone.now()
    offer = (
        WaitlistEntry.objects.filter(
            pk=entry_id,
            status=WaitlistStatus.OFFERED,
            offer__status=ReservationStatus.HELD,
            offer__expires_at__gt=now,
        )
        .exclude(user__email="")
        .values(
            email=F("user__email"),
            username=F("user__username"),
            reservation_id=F("offer_id"),
            price=F("offer__price"),
            expires_at=F("offer__expires_at"),
            seat_number=F("offer__seat__number"),
            seat_row=F("offer__seat__row"),
            starts_at=F("schedule__starts_at"),
            title=F("schedule__concert__title"),
            venue=F("schedule__concert__venue"),
        )
        .first()
    )
    return offer
