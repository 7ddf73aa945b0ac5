"""Routes: the JSON API under /api/, the operator console under /admin/, pages at the root."""

from django.contrib import admin
from django.urls import include, path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from concertbooking.api import api_not_found
from concertbooking.converters import IdConverter
from concertbooking.health import HealthApi, ReadyApi
from concertbooking.metrics import metrics_view

register_converter(IdConverter, "id")

admin.site.site_header = "concertbooking operator console"
admin.site.site_title = "concertbooking console"
admin.site.index_title = "Concerts, sales and the queue"

# Django tries the patterns in order and the API is the busy part: the booking flow's calls
# first, in the order a buyer makes them, so the busiest (queue polls) match soonest.
urlpatterns = [
    path("api/health", HealthApi.as_view(), name="api-health"),
    path("api/ready", ReadyApi.as_view(), name="api-ready"),
    path("api/", include("queueing.api.urls")),
    path("api/", include("booking.api.urls")),
    path("api/", include("payments.api.urls")),
    path("api/auth/", include("accounts.api.urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    # Prometheus; the public proxy refuses it (see README's operations).
    path("metrics", metrics_view, name="metrics"),
    # Anything else under /api/ (unknown paths, malformed ids) is a JSON 404.
    re_path(r"^api/", api_not_found),
    path("accounts/", include("accounts.urls")),
    path("", include("queueing.urls")),
    path("", include("booking.urls")),
    path("", include("payments.urls")),
]

handler400 = "concertbooking.views.bad_request"
handler500 = "concertbooking.views.server_error"
