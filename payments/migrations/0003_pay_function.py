"""Installed the PL/pgSQL function payments_pay() once; the payment is ORM code in
payments.services now, so this step does nothing and 0005 drops the function where it was
installed."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_idempotency_body_text"),
        ("booking", "0003_hold_function"),
    ]

    operations = []
