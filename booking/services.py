"""Booking writes. Bulk catalog creation for demos and scale tests lives here too."""

import functools
import random
from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from booking import cache
from booking.errors import (
    AlreadyPaid,
    HoldExpired,
    HoldLimitReached,
    ReservationNotFound,
    SeatNotFound,
    SeatUnavailable,
)
from booking.models import (
    Concert,
    ConcertSchedule,
    Reservation,
    ReservationStatus,
    Seat,
    SeatStatus,
)
from concertbooking import db
from concertbooking.db import sql_datetime, unique_violated
from concertbooking.errors import Conflict, InvalidInput, NotFound

_ADJECTIVES = ["Midnight", "Electric", "Silver", "Golden", "Velvet", "Neon", "Wild", "Quiet"]
_NOUNS = ["Echoes", "Horizons", "Tides", "Lanterns", "Rivers", "Skylines", "Embers", "Waves"]
_PERFORMERS = [
    "The Lumens",
    "Ada & the Engines",
    "Nova Choir",
    "Marisol Vega",
    "Orchestra Nord",
    "Kite Theory",
    "Juno Park",
    "The Paper Boats",
    "DJ Halcyon",
    "Ravel Quartet",
]
_VENUES = [
    "Olympic Hall",
    "Riverside Arena",
    "Blue Note Club",
    "City Opera House",
    "Harbour Stadium",
    "Garden Theatre",
]
# (share of rows, tier, price): the front rows cost most.
PRICE_TIERS = [(0.2, "VIP", 150_000), (0.3, "R", 110_000), (0.5, "S", 80_000)]


def row_label(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: spreadsheet-style row names."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(65 + rest) + label
    return label


def seat_layout(*, seats: int, seats_per_row: int) -> list[tuple[int, str, str, int]]:
    """(number, row, tier, price) for each seat of one schedule, tiers by row from the stage."""
    rows = max(1, -(-seats // seats_per_row))
    tier_of_row = []
    for share, tier, price in PRICE_TIERS:
        tier_of_row += [(tier, price)] * max(1, round(rows * share))
    tier_of_row += [tier_of_row[-1]] * rows  # rounding may leave rows without a tier
    return [
        (
            number,
            row_label((number - 1) // seats_per_row),
            *tier_of_row[(number - 1) // seats_per_row],
        )
        for number in range(1, seats + 1)
    ]


def catalog_reset() -> None:
    """Remove every concert, date and seat (and, through cascades, what refers to seats)."""
    if connection.vendor == "postgresql":
        tables = [Seat._meta.db_table, ConcertSchedule._meta.db_table, Concert._meta.db_table]
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    else:
        Concert.objects.all().delete()


def _seats_copy(schedule_ids: list[int], layout: list[tuple]) -> None:
    """PostgreSQL COPY: a million seats in seconds, where row-by-row INSERTs take minutes."""
    table = Seat._meta.db_table
    columns = "schedule_id, number, row, tier, price, status, version"
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for schedule_id in schedule_ids:
            for number, row, tier, price in layout:
                copy.write_row((schedule_id, number, row, tier, price, SeatStatus.AVAILABLE, 0))


def _seats_bulk_create(schedule_ids: list[int], layout: list[tuple]) -> None:
    batch: list[Seat] = []
    for schedule_id in schedule_ids:
        for number, row, tier, price in layout:
            batch.append(
                Seat(schedule_id=schedule_id, number=number, row=row, tier=tier, price=price)
            )
        if len(batch) >= 5000:
            Seat.objects.bulk_create(batch)
            batch = []
    Seat.objects.bulk_create(batch)


@transaction.atomic
def catalog_seed(
    *,
    concerts: int,
    dates_per_concert: int,
    seats_per_date: int,
    seats_per_row: int = 10,
    start: datetime | None = None,
    rng_seed: int = 7,
) -> dict[str, int]:
    """Create `concerts` concerts, each with future dates and a full seat map, in bulk."""
    rng = random.Random(rng_seed)
    start = start or timezone.now()
    first_day = start.date() + timedelta(days=1)
    concert_rows = Concert.objects.bulk_create(
        Concert(
            title=f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} Tour {i + 1}",
            performer=rng.choice(_PERFORMERS),
            venue=rng.choice(_VENUES),
            description="An evening of live music. Doors open an hour before the show.",
        )
        for i in range(concerts)
    )
    schedules = []
    for i, concert in enumerate(concert_rows):
        day = first_day + timedelta(days=i % 45)
        for d in range(dates_per_concert):
            starts = datetime.combine(
                day + timedelta(days=7 * d), time(19, 30), tzinfo=start.tzinfo
            )
            schedules.append(ConcertSchedule(concert=concert, starts_at=starts))
    schedule_ids = [s.pk for s in ConcertSchedule.objects.bulk_create(schedules, batch_size=5000)]
    layout = seat_layout(seats=seats_per_date, seats_per_row=seats_per_row)
    if connection.vendor == "postgresql":
        _seats_copy(schedule_ids, layout)
    else:
        _seats_bulk_create(schedule_ids, layout)
    return {
        "concerts": len(concert_rows),
        "schedules": len(schedule_ids),
        "seats": len(schedule_ids) * len(layout),
    }


# A stadium's worth per date; one operator click must stay a bounded amount of work.
SEAT_MAP_MAX_ROWS = 702  # A..ZZ
SEAT_MAP_MAX_SEATS_PER_ROW = 1000
SEAT_MAP_MAX_SEATS = 100_000
SEAT_PRICE_MAX = 2_147_483_647  # the seat price column is a 32-bit integer


def _tiered_layout(
    *, rows: int, seats_per_row: int, tiers: list[tuple[str, int, int]]
) -> list[tuple[int, str, str, int]]:
    """(number, row, tier, price) with `tiers` as (name, rows, price) from the stage back."""
    tier_of_row: list[tuple[str, int]] = []
    for name, tier_rows, price in tiers:
        tier_of_row += [(name, price)] * tier_rows
    # The last tier runs to the back wall, so an operator need not count every row.
    tier_of_row += [tier_of_row[-1]] * (rows - len(tier_of_row))
    return [
        (row * seats_per_row + seat + 1, row_label(row), *tier_of_row[row])
        for row in range(rows)
        for seat in range(seats_per_row)
    ]


def schedule_seats_generate(
    *,
    schedule: ConcertSchedule,
    rows: int,
    seats_per_row: int,
    tiers: list[tuple[str, int, int]] | None = None,
) -> int:
    """Create a date's whole seat map in one bulk write; returns how many seats were made.

    `tiers` lists (name, rows, price) from the stage back; without it the standard VIP/R/S split
    applies. A date that already has seats is left alone: regenerating would orphan its holds.
    """
    if not 1 <= rows <= SEAT_MAP_MAX_ROWS:
        raise InvalidInput(f"Rows must be between 1 and {SEAT_MAP_MAX_ROWS}.", code="invalid_rows")
    if not 1 <= seats_per_row <= SEAT_MAP_MAX_SEATS_PER_ROW:
        raise InvalidInput(
            f"Seats per row must be between 1 and {SEAT_MAP_MAX_SEATS_PER_ROW}.",
            code="invalid_seats_per_row",
        )
    if rows * seats_per_row > SEAT_MAP_MAX_SEATS:
        raise InvalidInput(
            f"At most {SEAT_MAP_MAX_SEATS:,} seats per date.", code="seat_map_too_large"
        )
    if tiers:
        for name, tier_rows, price in tiers:
            if not name or len(name) > Seat._meta.get_field("tier").max_length:
                raise InvalidInput(
                    "Each tier needs a name of 1 to 16 characters.", code="invalid_tier"
                )
            if tier_rows < 1 or not 0 <= price <= SEAT_PRICE_MAX:
                raise InvalidInput(
                    f"Tier {name}: rows must be at least 1 and the price 0 or more.",
                    code="invalid_tier",
                )
        if sum(tier_rows for _, tier_rows, _ in tiers) > rows:
            raise InvalidInput(
                f"The tiers cover more than the {rows} rows of the map.", code="invalid_tier"
            )
        layout = _tiered_layout(rows=rows, seats_per_row=seats_per_row, tiers=tiers)
    else:
        layout = seat_layout(seats=rows * seats_per_row, seats_per_row=seats_per_row)

    with transaction.atomic():
        # The schedule row is the lock: two operators generating the same date queue up here,
        # and the second one then sees the first one's seats.
        locked = ConcertSchedule.objects.select_for_update().filter(pk=schedule.pk).first()
        if locked is None:
            raise NotFound("That date no longer exists.", code="schedule_not_found")
        if Seat.objects.filter(schedule_id=schedule.pk).exists():
            raise Conflict(
                "This date already has a seat map; delete its seats first to make a new one.",
                code="seat_map_exists",
            )
        if connection.vendor == "postgresql":
            _seats_copy([schedule.pk], layout)
        else:
            _seats_bulk_create([schedule.pk], layout)
        cache.catalog_changed(concert_ids=[locked.concert_id])
    return len(layout)


# --- Holds and reservations ---------------------------------------------------------------------
# Lock order, everywhere: the user row, then reservations, then seats (then, in payments, the
# wallet). Every path that touches more than one of them takes them in this order, so two requests
# can wait on each other but never deadlock.


def _catalog_changed_for(*, seat_ids: list[int]) -> None:
    """Drop the cached catalog reads of the concerts these seats belong to, after commit."""
    concert_ids = (
        Seat.objects.filter(pk__in=seat_ids)
        .values_list("schedule__concert_id", flat=True)
        .distinct()
        .order_by()
    )
    cache.catalog_changed(concert_ids=list(concert_ids))


# The hold's statements, written out once. Through the ORM a hold compiled six statements afresh
# on every request, ~0.5 ms of CPU each here: most of the hold's cost, and more than the work
# PostgreSQL does for it. Named parameters; datetimes go through sql_datetime() (SQLite, used by
# `make run`, stores them as naive UTC text). Tables and columns are the models'.
_HOLD_LOCK_USER = "SELECT id FROM {user_table} WHERE id = %(user_id)s {for_update}"
# After the lock, in one round trip: the user's live holds, the seat with its date, and whether
# a run-out hold on the seat is still marked held (it would trip uk_reservation_seat_active).
# LEFT JOINs from a one-row table, so an unknown seat still answers the count.
_HOLD_READ = """
SELECT
    (SELECT COUNT(*) FROM booking_reservation
     WHERE user_id = %(user_id)s AND status = %(held)s AND expires_at > %(now)s),
    seat.price, seat.schedule_id, schedule.concert_id, schedule.starts_at > %(now)s,
    EXISTS (SELECT 1 FROM booking_reservation
            WHERE seat_id = %(seat_id)s AND status = %(held)s AND expires_at <= %(now)s)
FROM (SELECT 1) AS one
LEFT JOIN booking_seat AS seat ON seat.id = %(seat_id)s
LEFT JOIN booking_concertschedule AS schedule ON schedule.id = seat.schedule_id
"""
_HOLD_RETIRE = """
UPDATE booking_reservation SET status = %(expired)s
WHERE seat_id = %(seat_id)s AND status = %(held)s AND expires_at <= %(now)s
"""
# The seat is taken by this one conditional statement (booking.models.seat_free_q); no join, so
# PostgreSQL re-checks the condition on the row after waiting for its lock.
_HOLD_TAKE_SEAT = """
UPDATE booking_seat SET status = %(held)s, held_until = %(expires_at)s, version = version + 1
WHERE id = %(seat_id)s
  AND (status = %(available)s OR (status = %(held)s AND held_until <= %(now)s))
"""
_HOLD_INSERT = """
INSERT INTO booking_reservation (user_id, seat_id, price, status, expires_at, paid_at, created_at)
VALUES (%(user_id)s, %(seat_id)s, %(price)s, %(held)s, %(expires_at)s, NULL, %(now)s)
RETURNING id
"""


def reservation_hold(*, user: AbstractBaseUser, seat_id: int, now: datetime | None = None) -> dict:
    """Hold a free seat for HOLD_SECONDS and return the new reservation as the API shows it.

    The seat is taken by one conditional UPDATE (free, or held with the hold run out), so of any
    number of parallel requests for one seat exactly one changes the row; the partial unique
    constraint uk_reservation_seat_active backs it up in the reservation table. The steps: lock
    the user, count their live holds and read the seat, retire a run-out hold still on the seat,
    take the seat, insert the reservation. On PostgreSQL they run as the function booking_hold
    (migration 0003) in one round trip; elsewhere as statements in a transaction.
    """
    now = now or timezone.now()
    expires_at = now + timedelta(seconds=settings.HOLD_SECONDS)
    try:
        if db.functions_installed():
            outcome, reservation_id, price, schedule_id, concert_id, active = _hold_call(
                user_id=user.pk, seat_id=seat_id, now=now, expires_at=expires_at
            )
        else:
            outcome, reservation_id, price, schedule_id, concert_id, active = _hold_statements(
                user_id=user.pk, seat_id=seat_id, now=now, expires_at=expires_at
            )
    except IntegrityError as exc:
        if unique_violated(exc, model=Reservation, name="uk_reservation_seat_active"):
            raise SeatUnavailable() from exc
        raise
    except DatabaseError as exc:
        if db.sqlstate(exc) == _SEAT_NOT_FREE:
            raise SeatUnavailable() from exc
        raise
    if outcome != "held":
        raise _hold_refusal(outcome, active)
    cache.catalog_changed(concert_ids=[concert_id])
    return {
        "reservation_id": reservation_id,
        "seat_id": seat_id,
        "schedule_id": schedule_id,
        "concert_id": concert_id,
        "price": price,
        "status": ReservationStatus.HELD.value,
        "expires_at": expires_at,
    }


# What booking_hold raises when it must undo a step it took (see the migration).
_SEAT_NOT_FREE = "CB001"


def _hold_refusal(outcome: str, active: int) -> Exception:
    if outcome == "hold_limit":
        return HoldLimitReached(
            f"You already hold {active} seats, the most allowed at once; "
            "pay for or release one first."
        )
    if outcome == "seat_not_found":
        return SeatNotFound()
    if outcome == "date_past":
        return SeatUnavailable("This date has already taken place.")
    return SeatUnavailable()


def _hold_call(*, user_id: int, seat_id: int, now: datetime, expires_at: datetime) -> tuple:
    """booking_hold() in autocommit: the call is its own transaction, committed as it returns.
    Inside an outer transaction it runs in a savepoint, so an error undoes only the call."""
    with db.call_scope(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM booking_hold(%s, %s, %s, %s, %s)",
            [user_id, seat_id, now, expires_at, settings.HOLD_LIMIT_PER_USER],
        )
        return cursor.fetchone()


def _hold_statements(*, user_id: int, seat_id: int, now: datetime, expires_at: datetime) -> tuple:
    """booking_hold()'s steps as statements in a transaction: (outcome, reservation id, price,
    schedule id, concert id, live holds), as the function answers."""
    params = {
        "user_id": user_id,
        "seat_id": seat_id,
        "now": sql_datetime(now),
        "expires_at": sql_datetime(expires_at),
        "held": ReservationStatus.HELD.value,
        "expired": ReservationStatus.EXPIRED.value,
        "available": SeatStatus.AVAILABLE.value,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # NO KEY UPDATE leaves rows that merely reference the user (reservations, tokens)
        # unblocked.
        cursor.execute(_hold_lock_user_sql(), params)
        # A statement of its own, after the lock: in READ COMMITTED it then sees every hold
        # the previous lock holder committed (a subquery in the locking statement would not).
        cursor.execute(_HOLD_READ, params)
        active, price, schedule_id, concert_id, upcoming, run_out_hold = cursor.fetchone()
        if active >= settings.HOLD_LIMIT_PER_USER:
            return "hold_limit", None, None, None, None, active
        if price is None:
            return "seat_not_found", None, None, None, None, active
        if not upcoming:
            return "date_past", None, price, schedule_id, concert_id, active
        if run_out_hold:
            # Not swept yet, it still counts for uk_reservation_seat_active: retire it first
            # (rolled back with us if we fail). A hold that runs out after our read carries a
            # deadline past our `now`, so the seat stays unavailable to us.
            cursor.execute(_HOLD_RETIRE, params)
        cursor.execute(_HOLD_TAKE_SEAT, params)
        if not cursor.rowcount:
            raise SeatUnavailable()
        cursor.execute(_HOLD_INSERT, {**params, "price": price})
        (reservation_id,) = cursor.fetchone()
    return "held", reservation_id, price, schedule_id, concert_id, active


def _for_update_sql(*, no_key: bool = False) -> str:
    """FOR [NO KEY] UPDATE, or nothing on SQLite: it has no row locks (it serialises writers)."""
    if not connection.features.has_select_for_update:
        return ""
    return connection.ops.for_update_sql(no_key=no_key)


@functools.cache
def _hold_lock_user_sql() -> str:
    table = connection.ops.quote_name(get_user_model()._meta.db_table)
    return _HOLD_LOCK_USER.format(user_table=table, for_update=_for_update_sql(no_key=True))


def reservation_cancel(*, user: AbstractBaseUser, reservation_id: int) -> None:
    """Release one's own hold and free its seat; releasing a hold that is over is a no-op."""
    now = timezone.now()
    with transaction.atomic():
        reservation = (
            Reservation.objects.select_for_update()
            .filter(pk=reservation_id, user_id=user.pk)
            .first()
        )
        if reservation is None:
            raise ReservationNotFound()
        if reservation.status == ReservationStatus.PAID:
            raise AlreadyPaid("A paid reservation cannot be released.")
        if reservation.status != ReservationStatus.HELD:
            return
        expired = reservation.expires_at <= now
        reservation.status = ReservationStatus.EXPIRED if expired else ReservationStatus.CANCELLED
        reservation.save(update_fields=["status"])
        # Only while the seat still carries this hold's deadline: it is ours to free.
        freed = Seat.objects.filter(
            pk=reservation.seat_id, status=SeatStatus.HELD, held_until=reservation.expires_at
        ).update(status=SeatStatus.AVAILABLE, held_until=None, version=F("version") + 1)
        if freed:
            _catalog_changed_for(seat_ids=[reservation.seat_id])


# The payment's booking statements, written out for the same reason as the hold's.
_PAYABLE_LOCK = """
SELECT id, user_id, seat_id, price, status, expires_at > %(now)s
FROM booking_reservation WHERE id = %(reservation_id)s AND user_id = %(user_id)s {for_update}
"""
_CONFIRM_SELL_SEAT = """
UPDATE booking_seat SET status = %(sold)s, held_until = NULL, version = version + 1
WHERE id = %(seat_id)s AND status = %(held)s AND held_until > %(now)s
"""
_CONFIRM_PAID = """
UPDATE booking_reservation SET status = %(paid)s, paid_at = %(now)s WHERE id = %(reservation_id)s
"""


def reservation_lock_payable(*, user_id: int, reservation_id: int, now: datetime) -> Reservation:
    """Lock the caller's reservation for payment; it must be held and unexpired.

    Call inside the payment's transaction: the row lock keeps a new hold on the seat, a release
    and the sweep away until that transaction ends. The reservation comes back with the fields
    a payment uses (the others load on first access).
    """
    params = {"reservation_id": reservation_id, "user_id": user_id, "now": sql_datetime(now)}
    with connection.cursor() as cursor:
        cursor.execute(_PAYABLE_LOCK.format(for_update=_for_update_sql()), params)
        row = cursor.fetchone()
    if row is None:
        raise ReservationNotFound()
    *fields, live = row
    reservation = Reservation.from_db(
        connection.alias, ["id", "user_id", "seat_id", "price", "status"], fields
    )
    if reservation.status == ReservationStatus.PAID:
        raise AlreadyPaid()
    if reservation.status != ReservationStatus.HELD or not live:
        raise HoldExpired()
    return reservation


def reservation_confirm(*, reservation: Reservation, now: datetime) -> None:
    """Mark a locked, payable reservation paid and its seat sold (in the payment transaction)."""
    params = {
        "reservation_id": reservation.pk,
        "seat_id": reservation.seat_id,
        "now": sql_datetime(now),
        "held": SeatStatus.HELD.value,
        "sold": SeatStatus.SOLD.value,
        "paid": ReservationStatus.PAID.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CONFIRM_SELL_SEAT, params)
        if not cursor.rowcount:
            # The sweep (on a clock a little ahead of ours) freed the seat first: the hold is over.
            raise HoldExpired()
        cursor.execute(_CONFIRM_PAID, params)
    reservation.status = ReservationStatus.PAID
    reservation.paid_at = now


def holds_expire(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Mark run-out holds expired and free their seats, in batches; returns how many expired.

    Idempotent and safe to run in parallel: rows another transaction has locked (a payment or a
    new hold in flight) are skipped and left to it or to the next run. Readers never wait for
    this: a seat whose hold ran out is already free to them (booking.models.seat_free_q).
    """
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            reservation_ids = list(
                Reservation.objects.select_for_update(skip_locked=True)
                .filter(status=ReservationStatus.HELD, expires_at__lte=now)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if reservation_ids:
                Reservation.objects.filter(pk__in=reservation_ids).update(
                    status=ReservationStatus.EXPIRED
                )
            # Every seat whose hold ran out, with or without a reservation row behind it.
            seat_ids = list(
                Seat.objects.select_for_update(skip_locked=True)
                .filter(status=SeatStatus.HELD, held_until__lte=now)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if seat_ids:
                Seat.objects.filter(pk__in=seat_ids, status=SeatStatus.HELD).update(
                    status=SeatStatus.AVAILABLE, held_until=None, version=F("version") + 1
                )
                # Cached seat lists made while these holds lasted still leave the seats out.
                _catalog_changed_for(seat_ids=seat_ids)
        expired += len(reservation_ids)
        if len(reservation_ids) < batch_size and len(seat_ids) < batch_size:
            return expired


def reservation_cancel_paid(*, reservation_id: int) -> Reservation:
    """Cancel a paid reservation and put its seat back on sale (the operator's refund).

    Call inside the refund's transaction (payments.services.payment_refund), which gives the
    money back: the reservation row stays locked until then, so two refunds cannot both pass.
    """
    reservation = Reservation.objects.select_for_update().filter(pk=reservation_id).first()
    if reservation is None:
        raise ReservationNotFound()
    if reservation.status != ReservationStatus.PAID:
        raise Conflict(
            f"Reservation {reservation_id} is {reservation.status}, not paid: nothing to refund.",
            code="reservation_not_paid",
        )
    reservation.status = ReservationStatus.CANCELLED
    reservation.save(update_fields=["status"])
    Seat.objects.filter(pk=reservation.seat_id, status=SeatStatus.SOLD).update(
        status=SeatStatus.AVAILABLE, held_until=None, version=F("version") + 1
    )
    concert_id = Seat.objects.filter(pk=reservation.seat_id).values_list(
        "schedule__concert_id", flat=True
    )[0]
    cache.catalog_changed(concert_ids=[concert_id])
    return reservation
