"""Site-wide error pages: JSON under /api/, HTML elsewhere."""

from django.http import HttpResponseServerError
from django.template import loader
from django.views import defaults

from concertbooking.api import api_bad_request, api_server_error


def bad_request(request, exception, *args, **kwargs):
    if request.path.startswith("/api/"):
        return api_bad_request(request, exception)
    return defaults.bad_request(request, exception)


def server_error(request, *args, **kwargs):
    if request.path.startswith("/api/"):
        return api_server_error(request)
    return HttpResponseServerError(loader.render_to_string("500.html"))
