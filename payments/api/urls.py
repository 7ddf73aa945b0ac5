"""Money API routes."""

from django.urls import path

from payments.api import views

urlpatterns = [
    path("users/me/balance", views.BalanceApi.as_view(), name="api-balance"),
    path("users/me/balance/charge", views.BalanceChargeApi.as_view(), name="api-balance-charge"),
    path("reservation/payments", views.PaymentCreateApi.as_view(), name="api-payment-create"),
    path(
        "reservations/<id:reservation_id>/cancel",
        views.TicketCancelApi.as_view(),
        name="api-ticket-cancel",
    ),
    path(
        "payments/callback/<slug:gateway>",
        views.TopUpCallbackApi.as_view(),
        name="api-payment-callback",
    ),
]
