"""Operator console for the queue: live figures and the settings (one row), applied at once."""

from dataclasses import asdict

from django import forms
from django.contrib import admin, messages
from django.http import JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from concertbooking.errors import ApplicationError
from queueing.models import QueueSettings
from queueing.selectors import queue_config, queue_stats
from queueing.services import queue_settings_update


class QueueConsoleForm(forms.Form):
    capacity = forms.IntegerField(
        min_value=1, max_value=10_000_000, help_text="People in the booking flow at once."
    )
    admit_per_tick = forms.IntegerField(
        min_value=1, max_value=10_000_000, help_text="At most this many let in per tick."
    )
    session_seconds = forms.IntegerField(
        min_value=1, max_value=86_400, help_text="How long an admitted person may stay."
    )
    abandon_seconds = forms.IntegerField(
        min_value=1,
        max_value=86_400,
        help_text="A waiting person who has not polled for this long loses their place.",
    )
    paused = forms.BooleanField(required=False, help_text="Stop letting people in.")


def _stats() -> dict:
    """The room's figures, or why there are none (the store is away): never an error page."""
    try:
        return {"available": True, **asdict(queue_stats())}
    except ApplicationError as exc:
        return {"available": False, "detail": exc.detail}


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

    def get_urls(self):
        return [
            path(
                "stats.json",
                self.admin_site.admin_view(self.stats_view),
                name="queueing_queuesettings_stats",
            ),
            *super().get_urls(),
        ]

    def stats_view(self, request):
        if not self.has_view_permission(request):
            return JsonResponse({"detail": "You may not view the queue."}, status=403)
        return JsonResponse(_stats())

    def changelist_view(self, request, extra_context=None):
        """The queue console: figures that refresh themselves, and the settings form."""
        if not self.has_view_permission(request):
            return super().changelist_view(request, extra_context)
        can_change = self.has_change_permission(request) or self.has_add_permission(request)
        config = asdict(queue_config())
        form = QueueConsoleForm(request.POST if request.method == "POST" else None, initial=config)
        if request.method == "POST" and can_change and form.is_valid():
            queue_settings_update(**form.cleaned_data)
            messages.success(request, "Queue settings saved; the next tick uses them.")
            return redirect(request.path)
        return TemplateResponse(
            request,
            "admin/queueing/console.html",
            {
                **self.admin_site.each_context(request),
                "title": "Queue console",
                "opts": self.model._meta,
                "form": form,
                "can_change": can_change,
                "stats": _stats(),
                "config": config,
            },
        )

    def save_model(self, request, obj, form, change) -> None:
        # Through the service, so this process's cached settings are dropped at once.
        queue_settings_update(**{name: form.cleaned_data[name] for name in self.fields})
