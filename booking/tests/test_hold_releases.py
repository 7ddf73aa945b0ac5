"""Hold-and-release cycles per user per concert: past HOLD_RELEASES_PER_CONCERT unpaid holds, a
new hold on that concert is refused and changes nothing, however many are sent at once."""

import pytest

from booking import services
from booking.errors import HoldReleaseLimit
from booking.models import Reservation, Seat, SeatStatus
from booking.tests.factories import SeatFactory, schedule_with_seats
from booking.tests.parallel import Failed, run_parallel

pytestmark = pytest.mark.django_db


def test_past_the_limit_a_hold_on_that_concert_is_refused_and_changes_nothing(
    settings, user, admitted_client
):
    settings.HOLD_RELEASES_PER_CONCERT = "3/h"
    seats = list(schedule_with_seats(5).seats.order_by("number"))
    for seat in seats[:3]:
        hold = services.reservation_hold(user=user, seat_id=seat.pk)
        services.reservation_cancel(user=user, reservation_id=hold["reservation_id"])
    before = list(Reservation.objects.order_by("pk").values())

    with pytest.raises(HoldReleaseLimit) as refused:
        services.reservation_hold(user=user, seat_id=seats[3].pk)
    assert 3500 < refused.value.retry_after <= 3600
    answer = admitted_client.post(
        "/api/reservation/concerts", {"seat_id": seats[4].pk}, format="json"
    )
    assert answer.status_code == 429
    assert answer.json()["code"] == "hold_release_limit"
    assert int(answer["Retry-After"]) > 3500
    assert list(Reservation.objects.order_by("pk").values()) == before
    assert Seat.objects.get(pk=seats[3].pk).status == SeatStatus.AVAILABLE

    # Another concert is another count.
    services.reservation_hold(user=user, seat_id=SeatFactory().pk)


def test_paid_holds_do_not_count(settings, user):
    from payments import services as payment_services

    settings.HOLD_RELEASES_PER_CONCERT = "2/h"
    seats = list(schedule_with_seats(3).seats.order_by("number"))
    payment_services.wallet_charge(user=user, amount=1_000_000)
    for seat in seats[:2]:
        hold = services.reservation_hold(user=user, seat_id=seat.pk)
        payment_services.payment_create(user=user, reservation_id=hold["reservation_id"])
    services.reservation_hold(user=user, seat_id=seats[2].pk)


@pytest.mark.django_db(transaction=True)
def test_parallel_holds_of_one_user_are_counted_one_after_another(settings, user):
    settings.HOLD_RELEASES_PER_CONCERT = "5/h"
    settings.HOLD_LIMIT_PER_USER = 100
    seats = list(schedule_with_seats(20).seats.values_list("pk", flat=True))

    results = run_parallel(
        [
            lambda seat_id=seat_id: services.reservation_hold(user=user, seat_id=seat_id)
            for seat_id in seats
        ]
    )
    refused = [r for r in results if isinstance(r, Failed)]
    assert all(isinstance(r.exc, HoldReleaseLimit) for r in refused), refused
    assert len(results) - len(refused) == 5
    assert Reservation.objects.filter(user=user).count() == 5
