from django.apps import AppConfig
from django.core import checks


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"

    def ready(self) -> None:
        checks.register(payment_gateway_check)

        from concertbooking.metrics import collector_register
        from payments.metrics import payments_collect

        collector_register(payments_collect)


def payment_gateway_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A PAYMENT_GATEWAY no gateway answers to would fail only at the first top-up: say so at
    start-up (the settings cannot see payments.gateways)."""
    from django.conf import settings

    from payments.gateways import GATEWAYS

    if settings.PAYMENT_GATEWAY in GATEWAYS:
        return []
    return [
        checks.Error(
            f"PAYMENT_GATEWAY is {settings.PAYMENT_GATEWAY!r}; it must be one of "
            f"{', '.join(sorted(GATEWAYS))}.",
            id="payments.E001",
        )
    ]
