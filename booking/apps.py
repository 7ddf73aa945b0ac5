from django.apps import AppConfig


class BookingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "booking"

    def ready(self) -> None:
        from booking.metrics import reservations_collect
        from concertbooking.metrics import collector_register

        collector_register(reservations_collect)
