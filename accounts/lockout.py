"""The address the sign-in lockout (django-axes) counts failures under."""

import ipaddress

from concertbooking.http import client_ip


def lockout_address(request) -> str | None:
    """client_ip's answer when it is an address; None (counted as no address) for what it
    cannot be sure of, such as a request with no socket address, which the address column of
    the failures table refuses."""
    address = client_ip(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
