from django.urls import path

from booking.api import views

urlpatterns = [
    path("concerts", views.ConcertListApi.as_view(), name="api-concert-list"),
    path(
        "concerts/<id:concert_id>/available-dates",
        views.AvailableDatesApi.as_view(),
        name="api-available-dates",
    ),
    path(
        "concerts/<id:concert_id>/schedules/<id:schedule_id>/available-seats",
        views.AvailableSeatsApi.as_view(),
        name="api-available-seats",
    ),
    path(
        "concerts/<id:concert_id>/schedules/<id:schedule_id>/best-available",
        views.BestAvailableApi.as_view(),
        name="api-best-available",
    ),
    path(
        "reservation/concerts", views.ReservationCreateApi.as_view(), name="api-reservation-create"
    ),
    path("reservations", views.ReservationListApi.as_view(), name="api-reservation-list"),
    path("schedules/<id:schedule_id>/waitlist", views.WaitlistApi.as_view(), name="api-waitlist"),
    path("waitlist", views.WaitlistListApi.as_view(), name="api-waitlist-list"),
    path(
        "reservations/<id:reservation_id>",
        views.ReservationCancelApi.as_view(),
        name="api-reservation-cancel",
    ),
    path("check-in", views.CheckInApi.as_view(), name="api-check-in"),
]
