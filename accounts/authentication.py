"""API token authentication through the caller cache (accounts.selectors).

The queue gate middleware needs the caller before DRF authenticates: its lookup is kept on the
request, and DRF's authentication takes it from there, so a request looks its key up once.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext_lazy as _
from knox.models import AuthToken
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from accounts.selectors import token_with_user

_KEPT = "_caller_token_lookup"


def token_user_kept(request, key: str) -> tuple[AbstractBaseUser, AuthToken] | None:
    """(user, token) for an active user's unexpired API token `key`, or None; the answer is kept
    on the (Django) request for whoever asks next."""
    kept = getattr(request, _KEPT, None)
    if kept is None or kept[0] != key:
        token = token_with_user(key)
        kept = (key, None if token is None else (token.user, token))
        setattr(request, _KEPT, kept)
    return kept[1]


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's reading of `Authorization: Token <key>`, with the key looked up through the cache
    (knox's own authentication queries the database on every call)."""

    def authenticate(self, request):
        # DRF makes an authenticator per request. The queue gate calls it with Django's request,
        # before DRF wraps it; the lookup is kept on Django's request for DRF to find.
        self._django_request = getattr(request, "_request", request)
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        found = token_user_kept(self._django_request, key)
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        return found
