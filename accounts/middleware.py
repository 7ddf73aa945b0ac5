"""Django's authentication middleware, checking this worker's memory of the session's user
against the session before Django reads the user (accounts.backends)."""

from django.contrib import auth
from django.contrib.auth import middleware
from django.utils.functional import SimpleLazyObject

from accounts import backends


def _user(request):
    """django.contrib.auth.middleware.get_user, with the memory checked first."""
    if not hasattr(request, "_cached_user"):
        backends.session_user_check(request)
        request._cached_user = auth.get_user(request)
    return request._cached_user


class AuthenticationMiddleware(middleware.AuthenticationMiddleware):
    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _user(request))
