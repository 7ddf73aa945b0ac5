"""Installed the PL/pgSQL function booking_hold() once; the hold is ORM code in booking.services
now, so this step does nothing and 0004 drops the function where it was installed."""

from django.conf import settings
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0002_reservation"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = []
