"""Buyer pages. Everything under /book/ sits behind the queue gate; the rest is open."""

from django.urls import path

from booking import views

urlpatterns = [
    path("", views.home, name="home"),
    path("concerts/<id:concert_id>", views.concert_detail, name="concert-detail"),
    path("queue/", views.waiting_room, name="queue-waiting-room"),
    path("queue/join", views.queue_join, name="queue-join"),
    path("queue/leave", views.queue_leave, name="queue-leave"),
    path("book/concerts/<id:concert_id>/dates", views.booking_dates, name="booking-dates"),
    path("book/schedules/<id:schedule_id>/seats", views.seat_map, name="booking-seat-map"),
    path("book/schedules/<id:schedule_id>/hold", views.seat_hold, name="booking-seat-hold"),
]
