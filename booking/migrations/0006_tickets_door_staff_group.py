"""The "Door staff" group, holding booking.check_in: an operator adds a door person to it."""

from django.db import migrations

GROUP = "Door staff"


def door_staff_group_create(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    # Made here if need be: on a new database Django creates permissions only after every
    # migration has run; it then finds this one and leaves it.
    content_type, _ = ContentType.objects.get_or_create(app_label="booking", model="checkin")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="check_in",
        defaults={"name": "Can check tickets in at the door"},
    )
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(permission)


def door_staff_group_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0005_tickets_checkins_waitlist"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(door_staff_group_create, door_staff_group_delete)]
