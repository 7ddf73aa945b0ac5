"""Drop payments_pay() where 0003 installed it: the payment is ORM code in payments.services."""

from django.db import migrations


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS payments_pay(integer, bigint, timestamptz)")


class Migration(migrations.Migration):
    dependencies = [("payments", "0004_outbox_backoff")]

    operations = [migrations.RunPython(drop, migrations.RunPython.noop)]
