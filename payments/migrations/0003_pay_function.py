"""payments_pay(): a seat payment as one PostgreSQL function, so a payment is one round trip.

Through separate statements a payment cost BEGIN, seven statements and COMMIT, then a read after
commit for the buyer's remaining holds: ten round trips with the reservation, seat and wallet rows
locked across most of them. The function runs the same steps inside the server
(payments.services.payment_create documents them; `make run`'s SQLite keeps the statement path).
Status and kind values are the models' (booking.models, payments.models).
"""

from django.db import migrations

PAY_FUNCTION = """
CREATE OR REPLACE FUNCTION payments_pay(
    p_user_id integer, p_reservation_id bigint, p_now timestamptz,
    OUT outcome text, OUT payment_id bigint, OUT amount integer, OUT balance bigint,
    OUT holds_left boolean
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_seat_id bigint;
    v_status text;
    v_live boolean;
    v_wallet_id bigint;
BEGIN
    -- Locks in the project's order: the reservation, the seat, the wallet.
    SELECT r.seat_id, r.price, r.status, r.expires_at > p_now
    INTO v_seat_id, amount, v_status, v_live
    FROM booking_reservation AS r
    WHERE r.id = p_reservation_id AND r.user_id = p_user_id
    FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF v_status = 'paid' THEN
        outcome := 'already_paid';
        RETURN;
    END IF;
    IF v_status <> 'held' OR NOT v_live THEN
        outcome := 'expired';
        RETURN;
    END IF;
    -- Refuse a short balance before writing anything (the debit below re-checks it).
    SELECT w.balance INTO balance FROM payments_wallet AS w WHERE w.user_id = p_user_id;
    IF COALESCE(balance, 0) < amount THEN
        outcome := 'insufficient_balance';
        RETURN;
    END IF;
    UPDATE booking_seat AS seat SET status = 'sold', held_until = NULL, version = seat.version + 1
    WHERE seat.id = v_seat_id AND seat.status = 'held' AND seat.held_until > p_now;
    IF NOT FOUND THEN
        -- The sweep, on a clock a little ahead of ours, freed the seat first.
        outcome := 'expired';
        RETURN;
    END IF;
    UPDATE booking_reservation AS r SET status = 'paid', paid_at = p_now
    WHERE r.id = p_reservation_id;
    -- One conditional UPDATE: a debit never takes the balance below zero
    -- (ck_wallet_balance_non_negative would refuse it anyway).
    UPDATE payments_wallet AS w SET balance = w.balance - amount, updated_at = p_now
    WHERE w.user_id = p_user_id AND w.balance - amount >= 0
    RETURNING w.id, w.balance INTO v_wallet_id, balance;
    IF NOT FOUND THEN
        -- A free seat can be paid without a wallet: make one (parallel callers get one).
        INSERT INTO payments_wallet (user_id, balance, updated_at) VALUES (p_user_id, 0, p_now)
        ON CONFLICT DO NOTHING;
        UPDATE payments_wallet AS w SET balance = w.balance - amount, updated_at = p_now
        WHERE w.user_id = p_user_id AND w.balance - amount >= 0
        RETURNING w.id, w.balance INTO v_wallet_id, balance;
        IF NOT FOUND THEN
            -- The balance fell after the check above: undo the sale with everything else.
            RAISE EXCEPTION USING ERRCODE = 'CB002', MESSAGE = 'the balance is too low';
        END IF;
    END IF;
    INSERT INTO payments_payment (reservation_id, user_id, amount, paid_at)
    VALUES (p_reservation_id, p_user_id, amount, p_now)
    RETURNING id INTO payment_id;
    INSERT INTO payments_ledgerentry
        (wallet_id, kind, amount, balance_after, payment_id, created_at)
    VALUES (v_wallet_id, 'payment', -amount, balance, payment_id, p_now);
    INSERT INTO payments_outboxevent
        (event_type, payload, created_at, delivered_at, attempts, last_error)
    VALUES ('payment_completed', jsonb_build_object('payment_id', payment_id), p_now, NULL, 0, '');
    -- After the debit: one buyer's payments wait for each other on the wallet row, and each
    -- statement of a VOLATILE function takes a new snapshot, so of several payments racing for
    -- a buyer's last holds the one debiting last sees the others paid and answers false.
    SELECT EXISTS (
        SELECT 1 FROM booking_reservation AS r
        WHERE r.user_id = p_user_id AND r.status = 'held' AND r.expires_at > p_now
    ) INTO holds_left;
    outcome := 'paid';
END
$$
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PAY_FUNCTION)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS payments_pay(integer, bigint, timestamptz)")


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_idempotency_body_text"),
        ("booking", "0003_hold_function"),
    ]

    operations = [migrations.RunPython(create, drop)]
