"""Database helpers shared by the apps' services."""

from django.db import IntegrityError


def constraint_name(exc: IntegrityError) -> str:
    """The name of the constraint an IntegrityError broke (PostgreSQL), else its message.

    Services turn a named constraint into a friendly error and let every other one surface.
    """
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or str(exc)
