"""The catalog as API readers get it: the cached JSON bodies, decoded (times stay ISO text)."""

import json

from booking import selectors


def cached_dates(*, concert_id: int) -> list[dict]:
    return json.loads(selectors.concert_available_dates_json(concert_id=concert_id))


def cached_seats(*, concert_id: int, schedule_id: int) -> list[dict]:
    return json.loads(
        selectors.schedule_available_seats_json(concert_id=concert_id, schedule_id=schedule_id)
    )
