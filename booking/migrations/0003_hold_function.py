"""booking_hold(): a seat hold as one PostgreSQL function, so a hold is one round trip.

Through separate statements a hold cost BEGIN, four statements and COMMIT: six round trips, each
a wake-up of the worker and of its database backend, with the user's row locked across all of
them. The function runs the same statements, in the same order and with the same locks, inside
the server (booking.services.reservation_hold documents the steps; `make run`'s SQLite keeps the
statement path). Status values are the models' (booking.models.SeatStatus, ReservationStatus).
"""

from django.conf import settings
from django.db import migrations

HOLD_FUNCTION = """
CREATE OR REPLACE FUNCTION booking_hold(
    p_user_id integer, p_seat_id bigint, p_now timestamptz, p_expires_at timestamptz,
    p_limit integer,
    OUT outcome text, OUT reservation_id bigint, OUT price integer, OUT schedule_id bigint,
    OUT concert_id bigint, OUT active integer
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_upcoming boolean;
    v_retired boolean;
BEGIN
    -- The user's row is the per-user lock: one user's holds count one after another.
    PERFORM 1 FROM {user_table} WHERE id = p_user_id FOR NO KEY UPDATE;
    -- A statement of its own, after the lock: each statement of a VOLATILE function takes a new
    -- snapshot, so in READ COMMITTED it sees every hold the previous lock holder committed.
    SELECT COUNT(*) INTO active FROM booking_reservation AS r
    WHERE r.user_id = p_user_id AND r.status = 'held' AND r.expires_at > p_now;
    IF active >= p_limit THEN
        outcome := 'hold_limit';
        RETURN;
    END IF;
    SELECT seat.price, seat.schedule_id, schedule.concert_id, schedule.starts_at > p_now
    INTO price, schedule_id, concert_id, v_upcoming
    FROM booking_seat AS seat
    JOIN booking_concertschedule AS schedule ON schedule.id = seat.schedule_id
    WHERE seat.id = p_seat_id;
    IF NOT FOUND THEN
        outcome := 'seat_not_found';
        RETURN;
    END IF;
    IF NOT v_upcoming THEN
        outcome := 'date_past';
        RETURN;
    END IF;
    -- A run-out hold not swept yet still counts for uk_reservation_seat_active: retire it
    -- first, locking reservation before seat as every path does.
    UPDATE booking_reservation AS r SET status = 'expired'
    WHERE r.seat_id = p_seat_id AND r.status = 'held' AND r.expires_at <= p_now;
    v_retired := FOUND;
    -- The seat is taken by this one conditional statement (booking.models.seat_free_q).
    UPDATE booking_seat AS seat
    SET status = 'held', held_until = p_expires_at, version = seat.version + 1
    WHERE seat.id = p_seat_id
      AND (seat.status = 'available' OR (seat.status = 'held' AND seat.held_until <= p_now));
    IF NOT FOUND THEN
        IF v_retired THEN
            -- Undo the retirement with everything else: a refused hold changes nothing.
            RAISE EXCEPTION USING ERRCODE = 'CB001', MESSAGE = 'the seat is not free';
        END IF;
        outcome := 'seat_unavailable';
        RETURN;
    END IF;
    INSERT INTO booking_reservation
        (user_id, seat_id, price, status, expires_at, paid_at, created_at)
    VALUES (p_user_id, p_seat_id, price, 'held', p_expires_at, NULL, p_now)
    RETURNING id INTO reservation_id;
    outcome := 'held';
END
$$
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    user_table = apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table
    quoted = schema_editor.connection.ops.quote_name(user_table)
    schema_editor.execute(HOLD_FUNCTION.replace("{user_table}", quoted))


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP FUNCTION IF EXISTS booking_hold(integer, bigint, timestamptz, timestamptz, integer)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0002_reservation"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create, drop)]
