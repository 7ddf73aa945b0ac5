"""Booking's errors, part of the one ApplicationError hierarchy."""

from concertbooking.errors import (
    Conflict,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    TooManyRequests,
)


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


class ReservationNotPaid(Conflict):
    code = "reservation_not_paid"
    default_detail = "This reservation is not paid: a hold is released, not cancelled."


class TicketAlreadyCancelled(Conflict):
    code = "ticket_already_cancelled"
    default_detail = "This ticket is already cancelled and refunded."


class CancelDeadlinePassed(Conflict):
    code = "cancel_deadline_passed"
    default_detail = "This ticket can no longer be cancelled."


class TicketCheckedIn(Conflict):
    code = "ticket_checked_in"
    default_detail = "This ticket was already checked in at the door; it cannot be cancelled."


class InvalidTicketCode(InvalidInput):
    code = "invalid_ticket_code"
    default_detail = "That is not a ticket code: it has 32 letters a-f and digits."


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    default_detail = "No ticket has this code."


class TicketRefunded(Conflict):
    code = "ticket_refunded"
    default_detail = "This ticket was cancelled and refunded; it does not admit anyone."


class TicketOtherDate(Conflict):
    code = "ticket_other_date"
    default_detail = "This ticket is for another date."


class AlreadyCheckedIn(Conflict):
    code = "already_checked_in"
    default_detail = "This ticket has already been checked in."


class CheckInNotAllowed(Forbidden):
    code = "check_in_not_allowed"
    default_detail = "Checking tickets in takes the door staff's permission."


class SchedulePast(Conflict):
    code = "schedule_past"
    default_detail = "This date has already taken place."


class NotSoldOut(Conflict):
    code = "not_sold_out"
    default_detail = "This date still has free seats: book one instead of waiting."


class AlreadyOnWaitlist(Conflict):
    code = "already_on_waitlist"
    default_detail = "You are already on this date's waiting list."


class NotOnWaitlist(NotFound):
    code = "not_on_waitlist"
    default_detail = "You are not on this date's waiting list."


class TooManySeats(InvalidInput):
    code = "too_many_seats"
    default_detail = "That is more seats than one may hold at once."


class SeatsOfSeveralDates(InvalidInput):
    code = "seats_of_several_dates"
    default_detail = "The seats of one hold must all be of one date."


class InvalidCount(InvalidInput):
    code = "invalid_count"
    default_detail = "count must be a whole number from 1 to the most seats one may hold."
