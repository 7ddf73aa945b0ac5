"""Buyer pages; the booking flow's views are marked queue_gated."""

from django.urls import path

from booking import views

urlpatterns = [
    path("", views.home, name="home"),
    path("concerts/<id:concert_id>", views.concert_detail, name="concert-detail"),
    # Outside /book/ and the queue: waiting for a sold-out date needs no place in it.
    path("concerts/<id:concert_id>/waitlist", views.waitlist, name="waitlist"),
    path("waitlist/<id:schedule_id>/join", views.waitlist_join, name="waitlist-join"),
    path("waitlist/<id:schedule_id>/leave", views.waitlist_leave, name="waitlist-leave"),
    path("book/concerts/<id:concert_id>/dates", views.booking_dates, name="booking-dates"),
    path("book/schedules/<id:schedule_id>/seats", views.seat_map, name="booking-seat-map"),
    path("book/schedules/<id:schedule_id>/hold", views.seat_hold, name="booking-seat-hold"),
    path("check-in/", views.check_in, name="check-in"),
]
