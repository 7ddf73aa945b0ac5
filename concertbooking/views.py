"""Site-wide error pages: JSON under /api/, HTML elsewhere."""

from django.http import HttpResponseServerError
from django.template import loader

from concertbooking.api import api_server_error


def server_error(request, *args, **kwargs):
    if request.path.startswith("/api/"):
        return api_server_error(request)
    return HttpResponseServerError(loader.render_to_string("500.html"))
