"""Database helpers shared by the apps' services."""

import contextlib
from datetime import datetime

from django.db import IntegrityError, connection, models, transaction


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


def sql_datetime(value: datetime):
    """`value` as a parameter of hand-written SQL, stored the way the ORM stores it (PostgreSQL
    takes the aware datetime; SQLite, used by `make run`, keeps naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def functions_installed() -> bool:
    """Whether the hot write paths run as the PostgreSQL functions the migrations install (one
    round trip each). SQLite, used by `make run`, sends their statements one by one."""
    return connection.vendor == "postgresql"


def sqlstate(exc: Exception) -> str | None:
    """The SQLSTATE code PostgreSQL answered with, if `exc` wraps a database error."""
    return getattr(getattr(exc, "__cause__", None), "sqlstate", None)


def call_scope():
    """Where to call one of those functions: nothing around it in autocommit (the call is its own
    transaction, one round trip), a savepoint inside a transaction (an error it raises then
    undoes the call alone, and the outer transaction goes on)."""
    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
