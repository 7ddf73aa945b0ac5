"""Booking writes. Bulk catalog creation for demos and scale tests lives here too."""

import logging
import math
import random
from datetime import datetime, time, timedelta
from typing import overload

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from accounts.services import user_lock_active
from booking import cache, selectors
from booking.errors import (
    AlreadyCheckedIn,
    AlreadyOnWaitlist,
    AlreadyPaid,
    CancelDeadlinePassed,
    HoldExpired,
    HoldLimitReached,
    HoldReleaseLimit,
    InvalidTicketCode,
    NotOnWaitlist,
    NotSoldOut,
    ReservationNotFound,
    ReservationNotPaid,
    ScheduleNotFound,
    SchedulePast,
    SeatNotFound,
    SeatsOfSeveralDates,
    SeatUnavailable,
    TicketAlreadyCancelled,
    TicketCheckedIn,
    TicketNotFound,
    TicketOtherDate,
    TicketRefunded,
    TooManySeats,
)
from booking.models import (
    CheckIn,
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
from booking.tickets import ticket_code_normalize
from concertbooking.api import api_datetime
from concertbooking.db import unique_violated
from concertbooking.errors import Conflict, InvalidInput, NotFound
from concertbooking.limits import Rate, rate_parse
from queueing import gate
from queueing import selectors as queue_selectors
from queueing import services as queue_services
from queueing.errors import QueueUnavailable

logger = logging.getLogger(__name__)

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


def party_ids(*, one: int | None, several: list[int] | None, action: str, noun: str) -> list[int]:
    """The ids a request names: `one`, or `several` for a party (exactly one of the two), 1 to
    HOLD_LIMIT_PER_USER of them and none twice; checked before anything is read or locked.
    `action` and `noun` word the refusals ("held", "seat")."""
    if (one is None) == (several is None):
        raise InvalidInput(f"Name the {noun}, or the {noun}s of one party, not both.")
    wanted = [one] if several is None else list(several)
    if len(wanted) > settings.HOLD_LIMIT_PER_USER:
        raise TooManySeats(
            f"At most {settings.HOLD_LIMIT_PER_USER} {noun}s can be {action} at once."
        )
    if not wanted:
        raise InvalidInput(f"Name at least one {noun}.")
    if len(set(wanted)) != len(wanted):
        raise InvalidInput(f"Each {noun} can be {action} once; one is named twice.")
    return wanted


@overload
def reservation_hold(
    *,
    user: AbstractBaseUser,
    seat_id: int,
    queue_room: str | None = None,
    now: datetime | None = None,
) -> dict: ...


@overload
def reservation_hold(
    *,
    user: AbstractBaseUser,
    seat_ids: list[int],
    queue_room: str | None = None,
    now: datetime | None = None,
) -> list[dict]: ...


def reservation_hold(
    *,
    user: AbstractBaseUser,
    seat_id: int | None = None,
    seat_ids: list[int] | None = None,
    queue_room: str | None = None,
    now: datetime | None = None,
) -> dict | list[dict]:
    """Hold a free seat (`seat_id`), or every seat of a party of one date (`seat_ids`), for
    HOLD_SECONDS; returns the new reservation as the API shows it (a list of them for
    `seat_ids`, by seat id).

    All or nothing: one transaction, and of any number of parallel requests for one seat
    exactly one takes it (one conditional UPDATE for all the seats, whose row count must be all
    of them); uk_reservation_seat_active backs that up in the reservation table. `queue_room` is
    the room whose place let the caller in: the seats' concert must be one it admits to.
    """
    wanted = party_ids(one=seat_id, several=seat_ids, action="held", noun="seat")
    now = now or timezone.now()
    expires_at = now + timedelta(seconds=settings.HOLD_SECONDS)
    try:
        with transaction.atomic():
            # The user's row is also the per-user lock: one user's holds are counted one at a
            # time.
            user_lock_active(user_id=user.pk)
            # Statements of their own, after the lock: in READ COMMITTED they then see every
            # hold the previous lock holder committed.
            active = Reservation.objects.filter(
                user_id=user.pk, status=ReservationStatus.HELD, expires_at__gt=now
            ).count()
            if active + len(wanted) > settings.HOLD_LIMIT_PER_USER:
                raise HoldLimitReached(_hold_limit_detail(active=active, asked=len(wanted)))
            releases = rate_parse(settings.HOLD_RELEASES_PER_CONCERT)
            seats = list(
                Seat.objects.filter(pk__in=wanted)
                .annotate(**_unpaid_holds(user_id=user.pk, rate=releases, now=now))
                .order_by("pk")
                .values(
                    "pk",
                    "price",
                    "status",
                    "schedule_id",
                    "schedule__concert_id",
                    "schedule__starts_at",
                    *(["unpaid_holds"] if releases else []),
                )
            )
            if len(seats) != len(wanted):
                raise SeatNotFound()
            seat = seats[0]
            if any(other["schedule_id"] != seat["schedule_id"] for other in seats):
                raise SeatsOfSeveralDates()
            gate.room_admits(queue_room, seat["schedule__concert_id"])
            if seat["schedule__starts_at"] <= now:
                raise SeatUnavailable("This date has already taken place.")
            # A hold run out on a date with a waiting list: the sweep hands the seat to the list.
            # Only a seat still marked held can be one, so the list is asked only then.
            held = [row["pk"] for row in seats if row["status"] == SeatStatus.HELD]
            waitlisted = held and list(
                Seat.objects.filter(_waitlist_claims_seat(), pk__in=held).values_list(
                    "pk", flat=True
                )
            )
            if waitlisted:
                raise _seats_taken(waitlisted, party=seat_ids is not None)
            # Each seat is a hold: a party let go counts as many as its seats, as single holds
            # of them would, so parties are no cheaper way to sweep the map.
            if releases and len(wanted) > releases.count:
                # No wait would make room: the party is larger than the whole allowance.
                raise TooManySeats(
                    f"At most {releases.count} seats of one concert can be held at a time under "
                    "the limit on holds let go; choose fewer."
                )
            if releases and seat["unpaid_holds"] + len(wanted) > releases.count:
                raise _hold_release_limit(
                    user_id=user.pk,
                    concert_id=seat["schedule__concert_id"],
                    rate=releases,
                    now=now,
                    seats=len(wanted),
                )
            # A hold run out on a seat but not swept yet still counts for
            # uk_reservation_seat_active: retire it (undone with the rest if a seat is taken).
            run_out = Reservation.objects.filter(
                seat_id__in=wanted, status=ReservationStatus.HELD, expires_at__lte=now
            )
            party = len(wanted) > 1
            if party:
                # Rows of a party are locked in pk order first, as every other multi-row write:
                # two parties that overlap queue up rather than deadlock. One seat's statement
                # takes its one lock by itself.
                run_out = Reservation.objects.filter(
                    pk__in=list(
                        run_out.select_for_update().order_by("pk").values_list("pk", flat=True)
                    )
                )
            run_out.update(status=ReservationStatus.EXPIRED)
            if party:
                free = list(
                    Seat.objects.select_for_update()
                    .filter(seat_free_q(now), pk__in=wanted)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
                if len(free) != len(wanted):
                    raise _seats_taken(sorted(set(wanted) - set(free)), party=seat_ids is not None)
            # No join, so PostgreSQL re-checks the condition after waiting for a row lock.
            taken = Seat.objects.filter(seat_free_q(now), pk__in=wanted).update(
                status=SeatStatus.HELD, held_until=expires_at, version=F("version") + 1
            )
            if taken != len(wanted):
                raise SeatUnavailable()
            reservations = Reservation.objects.bulk_create(
                Reservation(
                    user_id=user.pk,
                    seat_id=row["pk"],
                    price=row["price"],
                    expires_at=expires_at,
                    created_at=now,
                )
                for row in seats
            )
            cache.catalog_changed(concert_ids=[seat["schedule__concert_id"]])
            # The newest hold runs out last: the slot lasts until then, plus the idle time.
            # Robust: the hold stands even if the queue's Redis cannot be told.
            transaction.on_commit(
                lambda: queue_services.queue_slot_keep(
                    user_id=user.pk,
                    room=queue_selectors.room_for_concert(seat["schedule__concert_id"]).name,
                    held_until=expires_at,
                ),
                robust=True,
            )
    except IntegrityError as exc:
        if unique_violated(exc, model=Reservation, name="uk_reservation_seat_active"):
            raise SeatUnavailable() from exc
        raise
    holds = [
        {
            "reservation_id": reservation.pk,
            "seat_id": row["pk"],
            "schedule_id": row["schedule_id"],
            "concert_id": row["schedule__concert_id"],
            "price": row["price"],
            "status": ReservationStatus.HELD.value,
            "expires_at": expires_at,
        }
        for reservation, row in zip(reservations, seats, strict=True)
    ]
    return holds[0] if seat_ids is None else holds


def _seats_taken(taken: list[int], *, party: bool) -> SeatUnavailable:
    """The refusal; a party's names the seats taken (`seat_ids`), so a client can offer others."""
    if not party:
        return SeatUnavailable()
    return SeatUnavailable(
        f"{len(taken)} of these seats {'is' if len(taken) == 1 else 'are'} already taken; "
        "none was held. Pick others.",
        seat_ids=taken,
    )


def _hold_limit_detail(*, active: int, asked: int) -> str:
    limit = settings.HOLD_LIMIT_PER_USER
    if asked == 1:
        return (
            f"You already hold {active} seats, the most allowed at once; "
            "pay for or release one first."
        )
    return (
        f"You hold {active} seats and ask for {asked} more: at most {limit} can be held at "
        "once; pay for or release some first."
    )


def _unpaid_holds_of(*, user_id: int, rate: Rate, now: datetime):
    """The user's holds made within `rate`'s window that were never paid (released, run out,
    or live: a live one may yet be let go): what HOLD_RELEASES_PER_CONCERT limits per concert.
    A waiting list's offer is not the buyer's choice and does not count."""
    return Reservation.objects.filter(
        user_id=user_id,
        created_at__gt=now - timedelta(seconds=rate.seconds),
        paid_at__isnull=True,
    ).exclude(selectors.is_waitlist_offer())


def _unpaid_holds(*, user_id: int, rate: Rate | None, now: datetime) -> dict:
    """The seat read's annotation counting them on the seat's concert (none when unlimited).

    Read under the user's row lock: every hold of one user is counted in turn and counts itself,
    so parallel holds cannot all slip under the limit.
    """
    if rate is None:
        return {}
    counted = (
        _unpaid_holds_of(user_id=user_id, rate=rate, now=now)
        .filter(seat__schedule__concert_id=OuterRef("schedule__concert_id"))
        .order_by()
        .values("user_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return {"unpaid_holds": Coalesce(Subquery(counted), 0)}


def _hold_release_limit(
    *, user_id: int, concert_id: int, rate: Rate, now: datetime, seats: int = 1
) -> HoldReleaseLimit:
    """The refusal, with the wait until enough counted holds leave the window for `seats`."""
    oldest = (
        _unpaid_holds_of(user_id=user_id, rate=rate, now=now)
        .filter(seat__schedule__concert_id=concert_id)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[rate.count - seats]
    )
    wait = math.ceil((oldest + timedelta(seconds=rate.seconds) - now).total_seconds())
    minutes = max(1, math.ceil(wait / 60))
    what = "a seat" if seats == 1 else f"{seats} seats"
    return HoldReleaseLimit(
        f"You have let go of {rate.count} holds on this concert lately; you can hold {what} "
        f"for it again in {minutes} minute{'s' if minutes > 1 else ''}.",
        retry_after=wait,
    )


def reservation_cancel(*, user: AbstractBaseUser, reservation_id: int) -> None:
    """Release one's own hold and free its seat; releasing a hold that is over is a no-op.
    Releasing one's last hold starts the queue slot's idle time again."""
    now = timezone.now()
    with transaction.atomic():
        # The user's row first, as a hold takes it: a release and a hold of one user run in turn.
        user_lock_active(user_id=user.pk)
        reservation = (
            # Only the reservation row is locked: the join reads the seat's concert alongside.
            Reservation.objects.select_for_update(of=("self",))
            .annotate(concert_id=F("seat__schedule__concert_id"))
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
        # A waiting list's offer let go is declined (one run out has lapsed).
        _waitlist_offers_end(
            reservation_ids=[reservation.pk],
            status=WaitlistStatus.LAPSED if expired else WaitlistStatus.LEFT,
        )
        # Only while the seat still carries this hold's deadline: it is ours to free.
        freed = Seat.objects.filter(
            pk=reservation.seat_id, status=SeatStatus.HELD, held_until=reservation.expires_at
        ).update(status=SeatStatus.AVAILABLE, held_until=None, version=F("version") + 1)
        if freed:
            waitlist_seats_offer(seat_ids=[reservation.seat_id], now=now)
            _catalog_changed_for(seat_ids=[reservation.seat_id])
        room = queue_selectors.room_for_concert(reservation.concert_id).name

        # Read after commit, as a payment's release is: the holds left in the room decide.
        def slot_follows_holds() -> None:
            held_until = selectors.holds_keeping_slot(user_id=user.pk, room=room).aggregate(
                until=Max("expires_at")
            )["until"]
            queue_services.queue_slot_keep(user_id=user.pk, room=room, held_until=held_until)

        transaction.on_commit(slot_follows_holds, robust=True)


def reservation_lock_payable(
    *, user_id: int, reservation_id: int, now: datetime, queue_room: str | None = None
) -> Reservation:
    """Lock the caller's reservation for payment; it must be held and unexpired, and of a
    concert `queue_room` admits to unless a waiting list made it (an offer is paid without a
    queue place, whatever room the buyer is in). It carries its `concert_id` and `is_offer`.

    Call inside the payment's transaction: the row lock keeps a new hold on the seat, a release
    and the sweep away until that transaction ends.
    """
    reservation = (
        # Only the reservation row is locked: the join reads the seat's concert alongside.
        Reservation.objects.select_for_update(of=("self",))
        .annotate(
            concert_id=F("seat__schedule__concert_id"), is_offer=selectors.is_waitlist_offer()
        )
        .filter(pk=reservation_id, user_id=user_id)
        .first()
    )
    if reservation is None:
        raise ReservationNotFound()
    if not reservation.is_offer:
        gate.room_admits(queue_room, reservation.concert_id)
    if reservation.status == ReservationStatus.PAID:
        raise AlreadyPaid()
    if reservation.status != ReservationStatus.HELD or reservation.expires_at <= now:
        raise HoldExpired()
    return reservation


def reservations_confirm(*, reservations: list[Reservation], now: datetime) -> None:
    """Mark locked, payable reservations paid and their seats sold, all or none (in the
    payment transaction): two statements however many seats a party has, three with offers.
    The reservations are reservation_lock_payable's."""
    sold = Seat.objects.filter(
        pk__in=[reservation.seat_id for reservation in reservations],
        status=SeatStatus.HELD,
        held_until__gt=now,
    ).update(status=SeatStatus.SOLD, held_until=None, version=F("version") + 1)
    if sold != len(reservations):
        # The sweep (on a clock a little ahead of ours) freed a seat first: its hold is over.
        raise HoldExpired()
    paid_ids = [reservation.pk for reservation in reservations]
    Reservation.objects.filter(pk__in=paid_ids).update(status=ReservationStatus.PAID, paid_at=now)
    for reservation in reservations:
        reservation.status = ReservationStatus.PAID
        reservation.paid_at = now
    # A waiting list's offer paid: its entry has its seat. Asked only for offers, which
    # reservation_lock_payable marks, so an ordinary payment sends no statement for it.
    offer_ids = [reservation.pk for reservation in reservations if reservation.is_offer]
    if offer_ids:
        WaitlistEntry.objects.filter(offer_id__in=offer_ids, status=WaitlistStatus.OFFERED).update(
            status=WaitlistStatus.PURCHASED
        )


def holds_expire(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Mark run-out holds expired and free their seats, in batches; returns how many expired.
    A freed seat of a date with a waiting list goes to the next in line (waitlist_seats_offer).

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
                # Offers among them ran out unclaimed: their seats pass on below.
                _waitlist_offers_end(reservation_ids=reservation_ids, status=WaitlistStatus.LAPSED)
            # Every seat whose hold ran out, with or without a reservation row behind it, once
            # no hold on it is left: one another run has locked is that run's to retire, and
            # handing its seat to a waiting list here would meet uk_reservation_seat_active.
            seat_ids = list(
                Seat.objects.select_for_update(skip_locked=True)
                .filter(status=SeatStatus.HELD, held_until__lte=now)
                .exclude(
                    Exists(
                        Reservation.objects.filter(
                            seat_id=OuterRef("pk"), status=ReservationStatus.HELD
                        )
                    )
                )
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if seat_ids:
                Seat.objects.filter(pk__in=seat_ids, status=SeatStatus.HELD).update(
                    status=SeatStatus.AVAILABLE, held_until=None, version=F("version") + 1
                )
                waitlist_seats_offer(seat_ids=seat_ids, now=now)
                # Cached seat lists made while these holds lasted still leave the seats out.
                _catalog_changed_for(seat_ids=seat_ids)
        expired += len(reservation_ids)
        if len(reservation_ids) < batch_size and len(seat_ids) < batch_size:
            return expired


def reservation_cancel_paid(
    *, reservation_id: int, buyer_id: int | None = None, now: datetime | None = None
) -> Reservation:
    """Cancel a paid reservation and put its seat back on sale, or to the next on its date's
    waiting list: the operator's refund, or with `buyer_id` its buyer's cancellation, which must
    be their own (someone else's is not found, like one that does not exist), before its
    deadline (selectors.ticket_cancel_deadline) and not checked in.

    Call inside the refund's transaction (payments.services), which gives the money back: the
    reservation row stays locked until then, so two refunds cannot both pass. A door scan locks
    the row too, so it either committed before (its check-in is read here, after the lock) or
    waits and then finds the ticket cancelled.
    """
    now = now or timezone.now()
    reservations = Reservation.objects.filter(pk=reservation_id)
    if buyer_id is not None:
        reservations = reservations.filter(user_id=buyer_id)
    reservation = (
        # Only the reservation row is locked: the join reads the seat's date alongside.
        reservations.select_for_update(of=("self",))
        .annotate(
            concert_id=F("seat__schedule__concert_id"), starts_at=F("seat__schedule__starts_at")
        )
        .first()
    )
    if reservation is None:
        raise ReservationNotFound()
    if buyer_id is not None:
        _buyer_may_cancel(reservation, now=now)
    elif reservation.status != ReservationStatus.PAID:
        raise Conflict(
            f"Reservation {reservation_id} is {reservation.status}, not paid: nothing to refund.",
            code="reservation_not_paid",
        )
    reservation.status = ReservationStatus.CANCELLED
    reservation.save(update_fields=["status"])
    if Seat.objects.filter(pk=reservation.seat_id, status=SeatStatus.SOLD).update(
        status=SeatStatus.AVAILABLE, held_until=None, version=F("version") + 1
    ):
        waitlist_seats_offer(seat_ids=[reservation.seat_id], now=now)
    cache.catalog_changed(concert_ids=[reservation.concert_id])
    return reservation


def _buyer_may_cancel(reservation: Reservation, *, now: datetime) -> None:
    """Refuse a buyer's cancellation of a hold, of a ticket cancelled already, past its
    deadline, or checked in at the door."""
    if reservation.paid_at is None:
        raise ReservationNotPaid()
    if reservation.status != ReservationStatus.PAID:
        raise TicketAlreadyCancelled()
    deadline = selectors.ticket_cancel_deadline(reservation.starts_at)
    if now >= deadline:
        raise CancelDeadlinePassed(
            "Tickets for this date could be cancelled until "
            f"{timezone.localtime(deadline):%a %d %b %Y, %H:%M}.",
            deadline=api_datetime(deadline),
        )
    if CheckIn.objects.filter(reservation_id=reservation.pk).exists():
        raise TicketCheckedIn()


def rooms_free_seats_count(*, now: datetime | None = None) -> int:
    """Count the free seats of every concert with a room of its own and tell its room; returns
    how many rooms were told. A concert with no date to come counts none; a room that cannot be
    told is skipped with a warning."""
    now = now or timezone.now()
    concert_ids = [room.concert_id for room in queue_selectors.rooms_all() if room.concert_id]
    if not concert_ids:
        return 0
    free = dict(
        Seat.objects.filter(
            seat_free_q(now),
            schedule__concert_id__in=concert_ids,
            schedule__starts_at__gt=now,
        )
        .values_list("schedule__concert_id")
        .annotate(free=Count("pk"))
        .order_by()
    )
    told = 0
    for concert_id in concert_ids:
        try:
            queue_services.room_free_seats_update(
                concert_id=concert_id, free=free.get(concert_id, 0)
            )
            told += 1
        except QueueUnavailable:
            # Its Redis Cluster master is down: the rooms on the others still get their count.
            logger.warning("free seats of concert %s: its room is unavailable", concert_id)
    return told


# --- Check-in at the door -----------------------------------------------------------------------


def ticket_check_in(
    *,
    code: str,
    staff: AbstractBaseUser,
    schedule_id: int | None = None,
    now: datetime | None = None,
) -> dict:
    """Let a ticket's holder in: the first scan of a paid ticket records its check-in, every
    later one is refused with the first scan's time.

    `schedule_id` is the date the door admits to; a ticket for another is refused. The
    reservation's row is locked first, as a buyer's cancellation locks it: a scan and a
    cancellation of one ticket run in turn. uk_checkin_reservation backs that up.
    """
    normalized = ticket_code_normalize(code)
    if normalized is None:
        raise InvalidTicketCode()
    now = now or timezone.now()
    with transaction.atomic():
        reservation = (
            # Only the reservation row is locked: the joins read the seat, date and holder.
            Reservation.objects.select_for_update(of=("self",))
            .select_related("seat__schedule__concert", "user")
            .filter(ticket_code=normalized, paid_at__isnull=False)
            .first()
        )
        if reservation is None:
            raise TicketNotFound()
        seat, schedule = reservation.seat, reservation.seat.schedule
        if reservation.status != ReservationStatus.PAID:
            raise TicketRefunded()
        if schedule_id is not None and schedule_id != schedule.pk:
            raise TicketOtherDate(
                f"This ticket is for {schedule.concert.title} on "
                f"{timezone.localtime(schedule.starts_at):%a %d %b %Y, %H:%M}.",
                schedule_id=schedule.pk,
                starts_at=schedule.starts_at,
            )
        first = (
            CheckIn.objects.filter(reservation_id=reservation.pk)
            .values("checked_in_at", staff_username=F("staff__username"))
            .first()
        )
        if first is not None:
            raise _already_checked_in(first)
        try:
            with transaction.atomic():
                CheckIn.objects.create(
                    reservation_id=reservation.pk,
                    schedule_id=schedule.pk,
                    staff_id=staff.pk,
                    checked_in_at=now,
                )
        except IntegrityError as exc:
            # Unreachable while the row lock holds; kept so a path without it still admits once.
            if not unique_violated(exc, model=CheckIn, name="uk_checkin_reservation"):
                raise
            first = (
                CheckIn.objects.filter(reservation_id=reservation.pk)
                .values("checked_in_at", staff_username=F("staff__username"))
                .get()
            )
            raise _already_checked_in(first) from exc
    user = reservation.user
    return {
        "reservation_id": reservation.pk,
        "concert_title": schedule.concert.title,
        "schedule_id": schedule.pk,
        "starts_at": schedule.starts_at,
        "seat_row": seat.row,
        "seat_number": seat.number,
        "tier": seat.tier,
        "holder": user.get_username(),
        "holder_name": selectors.holder_name(user.first_name, user.last_name),
        "checked_in_at": now,
    }


def _already_checked_in(first: dict) -> AlreadyCheckedIn:
    at, by = first["checked_in_at"], first["staff_username"]
    return AlreadyCheckedIn(
        f"Already checked in at {timezone.localtime(at):%H:%M:%S}" + (f" by {by}." if by else "."),
        checked_in_at=at,
        checked_in_by=first["staff_username"],
    )


# --- Waiting lists of sold-out dates ------------------------------------------------------------
# An entry's row is locked after the reservations and seats (the project's order): a seat that
# comes back is locked by its return, then handed to the next entry in line.


def _waitlist_claims_seat() -> Exists:
    """For the hold's seat read: whether a waiting list has a claim on the seat once its hold
    runs out (people wait on its date, or the hold is an offer the sweep must see lapse)."""
    waiting = WaitlistEntry.objects.filter(
        schedule_id=OuterRef("schedule_id"), status=WaitlistStatus.WAITING
    )
    offered = WaitlistEntry.objects.filter(
        offer__seat_id=OuterRef("pk"), offer__status=ReservationStatus.HELD
    )
    return Exists(waiting) | Exists(offered)


def _schedules_lock_shared(schedule_ids: list[int]) -> None:
    """FOR SHARE on these dates: a join (FOR NO KEY UPDATE on its date) waits until a seat
    coming back has looked at the list, or the seat sees the joined entry. Returns of one date
    share the lock and run side by side."""
    if not schedule_ids or connection.vendor != "postgresql":
        return  # SQLite (make run) runs one writer at a time anyway
    table = ConcertSchedule._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR SHARE",
            [sorted(schedule_ids)],
        )


def _waitlist_offers_end(*, reservation_ids: list[int], status: WaitlistStatus) -> None:
    """Offers among these reservations, which just stopped holding their seats, end as
    `status` (lapsed, or left when let go); their seats pass on with waitlist_seats_offer."""
    WaitlistEntry.objects.filter(
        offer_id__in=reservation_ids, status=WaitlistStatus.OFFERED
    ).update(status=status)


def waitlist_seats_offer(*, seat_ids: list[int], now: datetime) -> list[int]:
    """Hand seats that just came back to their dates' waiting lists; returns the entries
    offered a seat. The one step behind every return: a hold released or run out, a ticket
    refunded or cancelled.

    Call in the return's transaction, after it set the seats available (their rows are then
    locked by it). Each seat of a date with people waiting is held for the next in line for
    WAITLIST_CLAIM_MINUTES, as a reservation of theirs at the seat's price, and their entry
    becomes offered; a seat with nobody waiting stays free. The next entry is taken with SKIP
    LOCKED: returns of one date running side by side each take another person, so no entry
    gets two offers, and uk_reservation_seat_active keeps a seat to one offer. The emails go
    out after commit.
    """
    seats = list(
        Seat.objects.filter(
            pk__in=seat_ids, status=SeatStatus.AVAILABLE, schedule__starts_at__gt=now
        )
        .order_by("pk")
        .values("pk", "schedule_id", "price", "schedule__starts_at")
    )
    if not seats:
        return []
    schedule_ids = sorted({seat["schedule_id"] for seat in seats})
    _schedules_lock_shared(schedule_ids)
    # Served by ix_waitlist_schedule_waiting: most returns find nobody and end here.
    waiting = set(
        WaitlistEntry.objects.filter(schedule_id__in=schedule_ids, status=WaitlistStatus.WAITING)
        .values_list("schedule_id", flat=True)
        .distinct()
        .order_by()
    )
    claim = timedelta(minutes=settings.WAITLIST_CLAIM_MINUTES)
    offered: list[int] = []
    for seat in seats:
        if seat["schedule_id"] not in waiting:
            continue
        # A deactivated buyer could not pay: the seat goes to the next who can.
        entry = (
            WaitlistEntry.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                schedule_id=seat["schedule_id"],
                status=WaitlistStatus.WAITING,
                user__is_active=True,
            )
            .order_by("created_at", "id")
            .values("pk", "user_id")
            .first()
        )
        if entry is None:
            # Everyone left is being served by another return right now, or nobody is left.
            waiting.discard(seat["schedule_id"])
            continue
        # Never past the show's start.
        expires_at = min(now + claim, seat["schedule__starts_at"])
        if not Seat.objects.filter(pk=seat["pk"], status=SeatStatus.AVAILABLE).update(
            status=SeatStatus.HELD, held_until=expires_at, version=F("version") + 1
        ):
            continue
        reservation = Reservation.objects.create(
            user_id=entry["user_id"],
            seat_id=seat["pk"],
            price=seat["price"],
            expires_at=expires_at,
            created_at=now,
        )
        WaitlistEntry.objects.filter(pk=entry["pk"]).update(
            status=WaitlistStatus.OFFERED, offer_id=reservation.pk, offered_at=now
        )
        offered.append(entry["pk"])
    if offered:
        _waitlist_offer_emails_queue(offered)
    return offered


def _waitlist_offer_emails_queue(entry_ids: list[int]) -> None:
    # Imported here: booking.tasks imports this module.
    from booking.tasks import waitlist_offer_email

    # A named function: Django logs a robust callback's failure by its __qualname__. Robust:
    # a broker outage loses an email, never the offer, which the buyer's pages show too.
    def emails_queue() -> None:
        for entry_id in entry_ids:
            waitlist_offer_email.delay(entry_id)

    transaction.on_commit(emails_queue, robust=True)


def waitlist_join(*, user: AbstractBaseUser, schedule_id: int, now: datetime | None = None) -> dict:
    """Join a sold-out date's waiting list; returns the entry with its place in line.

    The date's row is locked (FOR NO KEY UPDATE) for the check and the insert, so a seat coming
    back meanwhile (FOR SHARE in waitlist_seats_offer) either is seen free here or sees the new
    entry. uk_waitlist_user_schedule_active keeps one entry per user and date.
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            user_lock_active(user_id=user.pk)
            schedule = (
                ConcertSchedule.objects.select_for_update(no_key=True)
                .filter(pk=schedule_id)
                .values("starts_at")
                .first()
            )
            if schedule is None:
                raise ScheduleNotFound()
            if schedule["starts_at"] <= now:
                raise SchedulePast()
            seats = Seat.objects.filter(schedule_id=schedule_id)
            if seats.filter(seat_free_q(now)).exists():
                raise NotSoldOut()
            if not seats.exists():
                raise NotSoldOut("This date has no seats on sale yet.")
            entry = WaitlistEntry.objects.create(
                user_id=user.pk, schedule_id=schedule_id, created_at=now
            )
    except IntegrityError as exc:
        if unique_violated(exc, model=WaitlistEntry, name="uk_waitlist_user_schedule_active"):
            raise AlreadyOnWaitlist() from exc
        raise
    return selectors.waitlist_entries(user_id=user.pk, now=now).get(entry_id=entry.pk)


def waitlist_leave(*, user: AbstractBaseUser, schedule_id: int) -> None:
    """Leave a date's waiting list; a seat it offered the user passes to the next in line.

    Locks in the project's order: the user, the offer's reservation, its seat, then the entry.
    The entry is read first without a lock to find its offer, and changed by conditional
    statements: should it get an offer in between, the loop sees that and gives it back.
    """
    with transaction.atomic():
        user_lock_active(user_id=user.pk)
        first = True
        while True:
            entry = (
                WaitlistEntry.objects.filter(
                    user_id=user.pk,
                    schedule_id=schedule_id,
                    status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED],
                )
                .values("pk", "status", "offer_id")
                .first()
            )
            if entry is None:
                if first:
                    raise NotOnWaitlist()
                return  # its offer lapsed meanwhile: the user is off the list already
            first = False
            if entry["status"] == WaitlistStatus.OFFERED:
                reservation_cancel(user=user, reservation_id=entry["offer_id"])
                # Left, or lapsed if its claim had run out; either way off the list now.
                return
            if WaitlistEntry.objects.filter(pk=entry["pk"], status=WaitlistStatus.WAITING).update(
                status=WaitlistStatus.LEFT
            ):
                return


def waitlist_offer_email_send(*, entry_id: int) -> bool:
    """Email the buyer the seat their waiting list holds for them; False when the offer is
    over (claimed, lapsed, let go) or they have no address. Sending twice sends twice."""
    offer = selectors.waitlist_offer_for_email(entry_id=entry_id)
    if offer is None:
        return False
    starts_at = timezone.localtime(offer["starts_at"])
    until = timezone.localtime(offer["expires_at"])
    link = settings.SITE_URL.rstrip("/") + reverse(
        "booking-checkout", kwargs={"reservation_id": offer["reservation_id"]}
    )
    send_mail(
        subject=f"A seat for you: {offer['title']}",
        message=(
            f"Hello {offer['username']},\n\n"
            "a seat came back on a date whose waiting list you are on, and it is held for you "
            f"until {until:%H:%M} on {until:%A %d %B}.\n\n"
            f"{offer['title']} at {offer['venue']}\n"
            f"{starts_at:%A %d %B %Y, %H:%M}\n"
            f"Row {offer['seat_row']}, seat {offer['seat_number']}: {offer['price']:,}\n\n"
            f"Pay for it here, no queue needed:\n{link}\n\n"
            "If you let it go, it passes to the next person in line.\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[offer["email"]],
    )
    return True
