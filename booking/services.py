"""Booking writes. Bulk catalog creation for demos and scale tests lives here too."""

import random
from datetime import datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

from booking.models import Concert, ConcertSchedule, Seat, SeatStatus
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
    return len(layout)
