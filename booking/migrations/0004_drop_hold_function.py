"""Drop booking_hold() where 0003 installed it: the hold is ORM code in booking.services."""

from django.db import migrations


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP FUNCTION IF EXISTS "
            "booking_hold(integer, bigint, timestamptz, timestamptz, integer)"
        )


class Migration(migrations.Migration):
    dependencies = [("booking", "0003_hold_function")]

    operations = [migrations.RunPython(drop, migrations.RunPython.noop)]
