import django.db.models.deletion
import django.db.models.functions.comparison
from django.db import migrations, models

import queueing.models


def settings_to_site_room(apps, schema_editor):
    """The operator's saved settings become the site-wide room's."""
    QueueSettings = apps.get_model("queueing", "QueueSettings")
    QueueRoom = apps.get_model("queueing", "QueueRoom")
    row = QueueSettings.objects.filter(pk=1).first()
    if row is not None:
        QueueRoom.objects.create(
            concert=None,
            mode="paused" if row.paused else "fifo",
            capacity=row.capacity,
            admit_per_tick=row.admit_per_tick,
            session_seconds=row.session_seconds,
            abandon_seconds=row.abandon_seconds,
        )


def site_room_to_settings(apps, schema_editor):
    QueueSettings = apps.get_model("queueing", "QueueSettings")
    QueueRoom = apps.get_model("queueing", "QueueRoom")
    room = QueueRoom.objects.filter(concert__isnull=True).first()
    if room is not None:
        QueueSettings.objects.create(
            pk=1,
            capacity=room.capacity,
            admit_per_tick=room.admit_per_tick,
            session_seconds=room.session_seconds,
            abandon_seconds=room.abandon_seconds,
            paused=room.mode == "paused",
        )


MODES = [
    ("fifo", "Queue (first come, first served)"),
    ("paused", "Paused (nobody admitted, places kept)"),
    ("closed", "Closed (nobody may join)"),
    ("passthrough", "Passthrough (everyone admitted at once)"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0004_drop_hold_function"),
        ("queueing", "0001_queue_settings"),
    ]

    operations = [
        migrations.CreateModel(
            name="QueueRoom",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("sale_starts_at", models.DateTimeField(blank=True, help_text="When the sale opens; the pre-queue opens PREQUEUE_MINUTES before. Empty: on sale now.", null=True)),
                ("mode", models.CharField(choices=MODES, default="fifo", max_length=12)),
                ("next_mode", models.CharField(blank=True, choices=MODES, help_text="A scheduled mode change.", max_length=12)),
                ("next_mode_at", models.DateTimeField(blank=True, help_text="When the scheduled mode takes over.", null=True)),
                ("capacity", models.PositiveIntegerField(help_text="How many people may be in the booking flow at once.")),
                ("admit_per_tick", models.PositiveIntegerField(help_text="At most this many people are let in per promotion tick.")),
                ("session_seconds", models.PositiveIntegerField(help_text="How long an admitted person may stay in the booking flow.")),
                ("abandon_seconds", models.PositiveIntegerField(help_text="A waiting person who has not polled for this long loses their place.")),
                ("seed", models.CharField(default=queueing.models.new_seed, editable=False, max_length=64)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("concert", models.OneToOneField(blank=True, help_text="Empty: the site-wide room, which guards every concert without a room of its own.", null=True, on_delete=django.db.models.deletion.CASCADE, related_name="queue_room", to="booking.concert")),
            ],
            options={
                "ordering": [models.F("concert_id").asc(nulls_first=True)],
                "constraints": [
                    models.UniqueConstraint(django.db.models.functions.comparison.Coalesce("concert", models.Value(0)), name="uk_queue_room_concert"),
                    models.CheckConstraint(condition=models.Q(("capacity__gt", 0)), name="ck_room_capacity_positive"),
                    models.CheckConstraint(condition=models.Q(("admit_per_tick__gt", 0)), name="ck_room_admit_per_tick_positive"),
                    models.CheckConstraint(condition=models.Q(("session_seconds__gt", 0)), name="ck_room_session_seconds_positive"),
                    models.CheckConstraint(condition=models.Q(("abandon_seconds__gt", 0)), name="ck_room_abandon_seconds_positive"),
                    models.CheckConstraint(condition=models.Q(("next_mode", ""), ("next_mode_at__isnull", False), _connector="OR"), name="ck_room_next_mode_has_time"),
                ],
            },
        ),
        migrations.RunPython(settings_to_site_room, site_room_to_settings),
        migrations.DeleteModel(name="QueueSettings"),
    ]
