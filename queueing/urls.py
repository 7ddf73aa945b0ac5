"""The waiting room's pages."""

from django.urls import path

from queueing import views

urlpatterns = [
    path("queue/", views.waiting_room, name="queue-waiting-room"),
    path("queue/join", views.queue_join, name="queue-join"),
    path("queue/leave", views.queue_leave, name="queue-leave"),
]
