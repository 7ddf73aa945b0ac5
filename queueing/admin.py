"""The queue console: every room's live figures, and one room's figures with its settings.

The changelist is the overview (a row per room); a room's change page is its console. Changes go
through queueing.services.room_save, so this process's cached rooms are dropped at once.
"""

from dataclasses import asdict
from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from concertbooking.errors import ApplicationError
from queueing.models import QueueRoom, RoomMode
from queueing.selectors import (
    RoomConfig,
    room_history,
    room_of_concert,
    room_stats,
    rooms_all,
    site_room,
)
from queueing.services import room_save


class RoomForm(forms.Form):
    mode = forms.ChoiceField(choices=RoomMode.choices)
    next_mode = forms.ChoiceField(
        choices=[("", "No change scheduled"), *RoomMode.choices],
        required=False,
        label="Scheduled mode",
    )
    next_mode_at = forms.DateTimeField(
        required=False, label="Scheduled at", help_text="When the scheduled mode takes over."
    )
    sale_starts_at = forms.DateTimeField(
        required=False,
        help_text="Concert rooms: when the sale opens (the pre-queue opens before). Empty: on "
        "sale now.",
    )
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

    def __init__(self, *args, site: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if site:
            del self.fields["sale_starts_at"]

    def clean(self):
        data = super().clean()
        if data.get("next_mode") and not data.get("next_mode_at"):
            self.add_error("next_mode_at", "Say when the scheduled mode takes over.")
        return data


def _stats(config: RoomConfig) -> dict:
    """The room's figures, or why there are none (the store is away): never an error page."""
    try:
        figures = asdict(room_stats(config))
    except ApplicationError as exc:
        return {"available": False, "detail": exc.detail, "concert_id": config.concert_id}
    figures["sale_starts_at"] = figures["sale_starts_at"] and figures["sale_starts_at"].isoformat()
    return {"available": True, **figures}


# The chart's drawing area in SVG units; the page scales it to its width.
CHART_WIDTH, CHART_HEIGHT = 600, 90


def _scale_top(peak: int) -> int:
    """The first of 1, 2, 5, 10, 20, 50... at or above `peak`: the chart's top line."""
    decade = 1
    while True:
        for top in (decade, 2 * decade, 5 * decade):
            if top >= peak:
                return top
        decade *= 10


def _history_chart(config: RoomConfig) -> dict:
    """The last hour drawn server-side: the waiting count as lines (broken where no tick ran)
    and admissions per minute as bars, each on its own scale."""
    try:
        minutes = room_history(config)
    except ApplicationError as exc:
        return {"available": False, "detail": exc.detail}
    step = CHART_WIDTH / len(minutes)
    waiting_top = _scale_top(max((m.waiting or 0 for m in minutes), default=0))
    admitted_top = _scale_top(max((m.admitted for m in minutes), default=0))

    def y(value: int, top: int) -> float:
        return round(CHART_HEIGHT - value * CHART_HEIGHT / top, 1)

    lines, points = [], []
    for i, minute in enumerate(minutes):
        if minute.waiting is None:
            if points:
                lines.append(" ".join(points))
            points = []
            continue
        points.append(f"{round(i * step + step / 2, 1)},{y(minute.waiting, waiting_top)}")
    if points:
        lines.append(" ".join(points))
    bars = [
        {
            "x": round(i * step + 1, 1),
            "y": y(minute.admitted, admitted_top),
            "height": round(CHART_HEIGHT - y(minute.admitted, admitted_top), 1),
            "value": minute.admitted,
        }
        for i, minute in enumerate(minutes)
        if minute.admitted
    ]
    # A single point draws no line: mark each point that stands alone.
    dots = [line.split(",") for line in lines if " " not in line]

    def clock(minute: int) -> str:
        return datetime.fromtimestamp(minute * 60, tz=UTC).strftime("%H:%M UTC")

    return {
        "available": True,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "bar_width": round(step - 2, 1),
        "waiting_lines": lines,
        "waiting_dots": dots,
        "waiting_top": waiting_top,
        "waiting_now": minutes[-1].waiting,
        "admitted_bars": bars,
        "admitted_top": admitted_top,
        "admitted_hour": sum(m.admitted for m in minutes),
        "starts": clock(minutes[0].minute),
        "ends": clock(minutes[-1].minute),
    }


def _key_of(concert_id: int | None) -> str:
    """A room's name in the console's URLs."""
    return "site" if concert_id is None else str(concert_id)


def _config(key: str) -> RoomConfig:
    if key == "site":
        return site_room()
    if not (key.isascii() and key.isdigit() and len(key) <= 19):
        raise Http404("No such room.")
    config = room_of_concert(int(key))
    if config is None:
        raise Http404("No such room.")
    return config


class NewRoomForm(forms.ModelForm):
    class Meta:
        model = QueueRoom
        fields = ["concert", "sale_starts_at", "mode"]


@admin.register(QueueRoom)
class QueueRoomAdmin(admin.ModelAdmin):
    form = NewRoomForm
    list_display = ["__str__", "mode", "capacity", "sale_starts_at", "updated_at"]
    autocomplete_fields: list = []

    def get_urls(self):
        return [
            path(
                "stats.json",
                self.admin_site.admin_view(self.stats_view),
                name="queueing_queueroom_stats",
            ),
            path(
                "room/<str:key>/",
                self.admin_site.admin_view(self.room_view),
                name="queueing_queueroom_console",
            ),
            *super().get_urls(),
        ]

    def stats_view(self, request):
        """Live figures of every room, or of one (`?room=site|<concert id>`)."""
        if not self.has_view_permission(request):
            return JsonResponse({"detail": "You may not view the queue."}, status=403)
        key = request.GET.get("room")
        if key:
            return JsonResponse(_stats(_config(key)))
        return JsonResponse({"rooms": [_stats(config) for config in rooms_all()]})

    def changelist_view(self, request, extra_context=None):
        """The overview: every room with its live figures, each linking to its console."""
        if not self.has_view_permission(request):
            return super().changelist_view(request, extra_context)
        rooms = [
            {"key": _key_of(config.concert_id), "config": config, "stats": _stats(config)}
            for config in rooms_all()
        ]
        return TemplateResponse(
            request,
            "admin/queueing/rooms.html",
            {
                **self.admin_site.each_context(request),
                "title": "Queue console",
                "opts": self.model._meta,
                "rooms": rooms,
                "can_add": self.has_add_permission(request),
            },
        )

    def room_view(self, request, key: str):
        """One room's console: its figures, live, and its settings with a scheduled change."""
        if not self.has_view_permission(request):
            raise Http404("No such room.")
        config = _config(key)
        can_change = self.has_change_permission(request) or self.has_add_permission(request)
        initial = {
            name: getattr(config, name)
            for name in (
                "mode",
                "next_mode",
                "next_mode_at",
                "sale_starts_at",
                "capacity",
                "admit_per_tick",
                "session_seconds",
                "abandon_seconds",
            )
        }
        form = RoomForm(
            request.POST if request.method == "POST" else None,
            initial=initial,
            site=config.concert_id is None,
        )
        if request.method == "POST" and not can_change:
            raise PermissionDenied
        if request.method == "POST" and form.is_valid():
            room_save(concert_id=config.concert_id, **form.cleaned_data)
            messages.success(request, "Room settings saved; the next tick uses them.")
            return redirect(request.path)
        stats_url = reverse("admin:queueing_queueroom_stats") + f"?room={key}"
        return TemplateResponse(
            request,
            "admin/queueing/console.html",
            {
                **self.admin_site.each_context(request),
                "title": "Queue console: "
                + ("site-wide room" if key == "site" else f"concert {key}"),
                "opts": self.model._meta,
                "form": form,
                "can_change": can_change,
                "stats": _stats(config),
                "stats_url": stats_url,
                "config": config,
                "chart": _history_chart(config),
            },
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        room = self.get_object(request, object_id)  # None for a malformed or unknown id
        if room is None:
            raise Http404("No such room.")
        return redirect("admin:queueing_queueroom_console", key=_key_of(room.concert_id))

    def save_model(self, request, obj, form, change) -> None:
        # Through the service, so the room gets its defaults and caches are dropped at once.
        room_save(
            concert_id=obj.concert_id,
            sale_starts_at=form.cleaned_data["sale_starts_at"],
            mode=form.cleaned_data["mode"],
        )
        saved = QueueRoom.objects.get(concert_id=obj.concert_id) if obj.concert_id else None
        if saved is not None:
            obj.pk = saved.pk

    def response_add(self, request, obj, post_url_continue=None):
        messages.success(request, "Room opened.")
        return redirect("admin:queueing_queueroom_console", key=_key_of(obj.concert_id))
