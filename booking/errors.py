"""Booking's errors, part of the one ApplicationError hierarchy."""

from concertbooking.errors import NotFound


class ConcertNotFound(NotFound):
    code = "concert_not_found"
    default_detail = "No such concert."


class ScheduleNotFound(NotFound):
    code = "schedule_not_found"
    default_detail = "No such date for this concert."
