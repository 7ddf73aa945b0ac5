"""Booking's errors, part of the one ApplicationError hierarchy."""

from concertbooking.errors import Conflict, Gone, InvalidInput, NotFound, TooManyRequests


class ConcertNotFound(NotFound):
    code = "concert_not_found"
    default_detail = "No such concert."


class ScheduleNotFound(NotFound):
    code = "schedule_not_found"
    default_detail = "No such date for this concert."


class SeatNotFound(NotFound):
    code = "seat_not_found"
    default_detail = "No such seat."


class SeatUnavailable(Conflict):
    code = "seat_unavailable"
    default_detail = "This seat is already taken; pick another one."


class HoldLimitReached(Conflict):
    code = "hold_limit_reached"
    default_detail = "You already hold as many seats as allowed; pay for or release one first."


class ReservationNotFound(NotFound):
    code = "reservation_not_found"
    default_detail = "No such reservation."


class AlreadyPaid(Conflict):
    code = "already_paid"
    default_detail = "This reservation is already paid."


class HoldExpired(Gone):
    code = "hold_expired"
    default_detail = "This hold has expired or was released; hold the seat again."


class HoldReleaseLimit(TooManyRequests):
    code = "hold_release_limit"
    default_detail = (
        "You have let go of too many holds on this concert lately; wait before holding another "
        "seat for it."
    )


class TooManySeats(InvalidInput):
    code = "too_many_seats"
    default_detail = "That is more seats than one may hold at once."


class SeatsOfSeveralDates(InvalidInput):
    code = "seats_of_several_dates"
    default_detail = "The seats of one hold must all be of one date."


class InvalidCount(InvalidInput):
    code = "invalid_count"
    default_detail = "count must be a whole number from 1 to the most seats one may hold."
