"""Operator console for the queue: the live settings (one row)."""

from django.contrib import admin

from queueing.models import QueueSettings
from queueing.services import queue_settings_update


@admin.register(QueueSettings)
class QueueSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "capacity",
        "admit_per_tick",
        "session_seconds",
        "abandon_seconds",
        "paused",
        "updated_at",
    ]
    fields = ["capacity", "admit_per_tick", "session_seconds", "abandon_seconds", "paused"]

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not QueueSettings.objects.exists()

    def save_model(self, request, obj, form, change) -> None:
        # Through the service, so this process's cached settings are dropped at once.
        queue_settings_update(**{name: form.cleaned_data[name] for name in self.fields})
