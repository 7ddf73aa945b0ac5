"""queueing API routes."""

urlpatterns: list = []
