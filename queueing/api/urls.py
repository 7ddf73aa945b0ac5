"""Queue API routes."""

from django.urls import path

from queueing.api import views

urlpatterns = [
    path("queue/tokens", views.QueueTokenIssueApi.as_view(), name="api-queue-token-issue"),
    path(
        "queue/tokens/current",
        views.QueueTokenCurrentApi.as_view(),
        name="api-queue-token-current",
    ),
    path(
        "concerts/<id:concert_id>/queue", views.ConcertRoomApi.as_view(), name="api-concert-queue"
    ),
    path(
        "concerts/<id:concert_id>/queue/draw",
        views.ConcertDrawApi.as_view(),
        name="api-concert-queue-draw",
    ),
]
