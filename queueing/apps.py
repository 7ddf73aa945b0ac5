from django.apps import AppConfig


class QueueingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "queueing"

    def ready(self) -> None:
        from concertbooking.metrics import collector_register
        from queueing.metrics import rooms_collect

        collector_register(rooms_collect)
