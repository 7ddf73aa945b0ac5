"""Database helpers shared by the apps' services."""

from django.db import IntegrityError, models


def unique_violated(exc: IntegrityError, *, model: type[models.Model], name: str) -> bool:
    """Whether `exc` is a breach of `model`'s unique constraint `name`.

    Services turn their own named constraints into friendly errors and let every other one
    surface. PostgreSQL reports the constraint's name; SQLite (`make run`) only its columns.
    """
    diag = getattr(exc.__cause__, "diag", None)
    reported = getattr(diag, "constraint_name", None)
    if reported:
        return reported == name
    constraint = next(c for c in model._meta.constraints if c.name == name)
    columns = ", ".join(
        f"{model._meta.db_table}.{model._meta.get_field(field).column}"
        for field in constraint.fields
    )
    return str(exc).endswith(f"UNIQUE constraint failed: {columns}")


class RandomHex32(models.Func):
    """32 random hex digits made by the database, as a column's db_default: every row gets its
    own, rows written by raw SQL included. PostgreSQL's gen_random_uuid() carries 122 random bits
    (built in since PostgreSQL 13); SQLite's randomblob 128."""

    output_field = models.CharField(max_length=32)

    def as_postgresql(self, compiler, connection, **extra_context):
        return "replace(gen_random_uuid()::text, '-', '')", []

    def as_sqlite(self, compiler, connection, **extra_context):
        return "lower(hex(randomblob(16)))", []
