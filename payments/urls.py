"""Paying pages; checkout's views are marked queue_gated."""

from django.urls import path

from payments import views

urlpatterns = [
    path("book/checkout/<id:reservation_id>", views.checkout, name="booking-checkout"),
    path("book/checkout/<id:reservation_id>/pay", views.checkout_pay, name="booking-pay"),
    path(
        "book/checkout/<id:reservation_id>/release",
        views.checkout_release,
        name="booking-release",
    ),
    # Outside /book/: a paid buyer's queue slot is released, yet their tickets stay in reach.
    path("tickets/", views.tickets, name="tickets"),
    path("tickets/<id:reservation_id>", views.ticket_detail, name="ticket-detail"),
    path("tickets/<id:reservation_id>/cancel", views.ticket_cancel, name="ticket-cancel"),
    path("tickets/<id:reservation_id>.pdf", views.ticket_pdf, name="ticket-pdf"),
    path("wallet/top-up", views.wallet_top_up, name="wallet-top-up"),
]
