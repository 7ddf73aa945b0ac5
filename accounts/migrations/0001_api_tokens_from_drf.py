"""API tokens handed out before they expired keep working: each is copied to knox's table, as
its digest, with a lifetime from the deploy on. The old table is only read."""

from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone

_LEGACY_TABLE = "authtoken_token"


def tokens_copy(apps, schema_editor):
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS

    connection = schema_editor.connection
    if _LEGACY_TABLE not in connection.introspection.table_names():
        return  # a database that never had them
    AuthToken = apps.get_model("knox", "AuthToken")
    expiry = timezone.now() + timedelta(seconds=settings.API_TOKEN_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id FROM {_LEGACY_TABLE}")  # noqa: S608 (a constant)
        rows = cursor.fetchall()
    AuthToken.objects.using(connection.alias).bulk_create(
        (
            AuthToken(
                digest=hash_token(key),
                token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH],
                user_id=user_id,
                expiry=expiry,
            )
            for key, user_id in rows
        ),
        batch_size=5000,
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("knox", "0009_extend_authtoken_field"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(tokens_copy, migrations.RunPython.noop)]
