"""Helpers every app's server-rendered pages share: the friendly 404, safe local redirects and
ids read from forms."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from concertbooking.errors import ApplicationError


def not_found(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    return render(request, "404.html", {"detail": exc.detail}, status=404)


def local_path(request: HttpRequest, target: str | None) -> str | None:
    """`target` if it is a path on this site, else None: a posted `next` never sends anyone off."""
    if (
        target
        and target.startswith("/")
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return target
    return None


# The largest id a bigint primary key holds; anything else in a form is no id at all.
_ID_MAX = 2**63 - 1


def form_id(value: str | None) -> int | None:
    """An id sent in a form or a query string, or None when `value` is not one."""
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number <= _ID_MAX else None
