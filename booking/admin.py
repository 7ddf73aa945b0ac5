"""Operator console for booking: concerts, dates, seat-map generation, seats, reservations, the
door's check-ins and the sold-out dates' waiting lists."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, F, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from booking import cache, services
from booking.models import (
    CheckIn,
    Concert,
    ConcertSchedule,
    Reservation,
    ReservationStatus,
    Seat,
    WaitlistEntry,
)
from concertbooking.admin import SafeInputMixin
from concertbooking.errors import ApplicationError
from queueing.models import QueueRoom
from queueing.services import room_save

# Above this many rows an unfiltered list shows PostgreSQL's estimate instead of counting.
ESTIMATE_COUNT_ABOVE = 100_000


class LargeTablePaginator(Paginator):
    """Counts filtered lists exactly; an unfiltered big table uses the planner's row estimate.

    COUNT(*) over a million seats reads the whole table on every page view; the estimate is a
    catalog lookup and is close enough for "page 3 of 10,000".
    """

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and connection.vendor == "postgresql" and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [query.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > ESTIMATE_COUNT_ABOVE:
                return row[0]
        return super().count


class ActionPermissionMixin:
    """An action posted by someone it is not offered to is refused with a 403.

    Django drops such an action from the menu but answers its POST with a redirect and "No
    action selected" (or, when no action is left, with the plain list), which reads like a
    glitch rather than a refusal.
    """

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST":
            declared = {
                action if isinstance(action, str) else action.__name__
                for action in self.actions or ()
            } | {name for name, _ in self.admin_site.actions}
            posted = set(request.POST.getlist("action")) & declared
            if posted - set(self.get_actions(request)):
                raise PermissionDenied
        return super().changelist_view(request, extra_context)


class CatalogCacheMixin:
    """Edits made here bypass the services, so they drop the concert's cached catalog reads
    themselves (after commit, like the services do).

    An edit writes only the fields the operator changed: the rest of the row was read when the
    form loaded, and holds and payments may have moved the seat's status since.
    """

    # The lookup from this model to its concert's id.
    concert_lookup: str

    def concert_id_of(self, obj) -> int:
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            cache.catalog_changed(concert_ids=[self.concert_id_of(obj)])
            return
        fields = [
            field.name
            for field in obj._meta.concrete_fields
            if not field.primary_key
            and (field.name in form.changed_data or getattr(field, "auto_now", False))
        ]
        if not any(name in form.changed_data for name in fields):
            return
        # A date or seat moved to another concert leaves that concert's cached reads stale too.
        stored = (
            type(obj)
            ._default_manager.filter(pk=obj.pk)
            .values_list(self.concert_lookup, flat=True)
            .first()
        )
        obj.save(update_fields=fields)
        cache.catalog_changed(
            concert_ids={self.concert_id_of(obj)} | ({stored} if stored is not None else set())
        )

    def delete_model(self, request, obj):
        concert_id = self.concert_id_of(obj)
        super().delete_model(request, obj)
        cache.catalog_changed(concert_ids=[concert_id])

    def delete_queryset(self, request, queryset):
        concert_ids = [self.concert_id_of(obj) for obj in queryset]
        super().delete_queryset(request, queryset)
        cache.catalog_changed(concert_ids=concert_ids)


# --- Seat-map generation -----------------------------------------------------------------------


def parse_tiers(text: str) -> list[tuple[str, int, int]]:
    """Lines of "name, rows, price" (front to back) -> [(name, rows, price)]."""
    tiers = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 3:
            raise forms.ValidationError(
                f'Line {number}: write "name, rows, price", for example "VIP, 2, 150000".'
            )
        name, rows, price = parts
        try:
            rows_value, price_value = int(rows), int(price.replace("_", ""))
        except ValueError:
            raise forms.ValidationError(
                f"Line {number}: rows and price must be whole numbers."
            ) from None
        tiers.append((name, rows_value, price_value))
    return tiers


class SeatMapForm(forms.Form):
    rows = forms.IntegerField(
        min_value=1, max_value=services.SEAT_MAP_MAX_ROWS, initial=10, help_text="Rows A, B, C..."
    )
    seats_per_row = forms.IntegerField(
        min_value=1, max_value=services.SEAT_MAP_MAX_SEATS_PER_ROW, initial=20
    )
    tiers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 40}),
        initial="VIP, 2, 150000\nR, 3, 110000\nS, 5, 80000",
        help_text="One price tier per line, from the stage back: name, rows, price. The last "
        "tier also covers any rows left over. Empty: the standard VIP/R/S split.",
    )

    def clean_tiers(self) -> list[tuple[str, int, int]]:
        return parse_tiers(self.cleaned_data.get("tiers") or "")

    def clean(self):
        cleaned = super().clean()
        rows, per_row = cleaned.get("rows"), cleaned.get("seats_per_row")
        if rows and per_row and rows * per_row > services.SEAT_MAP_MAX_SEATS:
            raise forms.ValidationError(
                f"{rows * per_row:,} seats is more than the {services.SEAT_MAP_MAX_SEATS:,} "
                "a date may have."
            )
        return cleaned


def _generate_seat_maps(modeladmin, request, schedules, *, title: str):
    """Shared action body: ask for the layout, then build every selected date's seat map."""
    schedules = list(schedules.select_related("concert").order_by("starts_at"))
    form = SeatMapForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        made, failed = 0, []
        for schedule in schedules:
            try:
                made += services.schedule_seats_generate(
                    schedule=schedule,
                    rows=form.cleaned_data["rows"],
                    seats_per_row=form.cleaned_data["seats_per_row"],
                    tiers=form.cleaned_data["tiers"] or None,
                )
            except ApplicationError as exc:
                failed.append(f"{schedule}: {exc.detail}")
        if made:
            modeladmin.message_user(
                request, f"Created {made:,} seats on {len(schedules) - len(failed)} date(s)."
            )
        for failure in failed:
            modeladmin.message_user(request, failure, level=messages.WARNING)
        return None
    return TemplateResponse(
        request,
        "admin/booking/generate_seat_map.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "opts": modeladmin.model._meta,
            "form": form,
            "schedules": schedules,
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "action": request.POST.get("action", ""),
            "select_across": request.POST.get("select_across", "0"),
            "media": modeladmin.media + form.media,
        },
    )


# --- Concerts and dates ------------------------------------------------------------------------


class ScheduleInline(admin.TabularInline):
    model = ConcertSchedule
    extra = 1
    fields = ("starts_at", "seats")
    readonly_fields = ("seats",)
    ordering = ("starts_at",)
    show_change_link = True

    @admin.display(description="Seat map")
    def seats(self, obj: ConcertSchedule) -> str:
        if not obj.pk:
            return "Save, then generate it from the dates list."
        url = reverse("admin:booking_seat_changelist") + f"?schedule__id__exact={obj.pk}"
        return format_html('<a href="{}">Seats of this date</a>', url)


class ConcertForm(forms.ModelForm):
    sale_starts_at = forms.DateTimeField(
        required=False,
        help_text="When the sale opens, in the concert's own waiting room (the pre-queue opens "
        "before). Empty: on sale now. Setting it gives the concert a room of its own.",
    )

    class Meta:
        model = Concert
        fields = ["title", "performer", "venue", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # From the table, not the rooms' short cache: the form must show what is saved.
            self.initial["sale_starts_at"] = (
                QueueRoom.objects.filter(concert_id=self.instance.pk)
                .values_list("sale_starts_at", flat=True)
                .first()
            )


@admin.register(Concert)
class ConcertAdmin(CatalogCacheMixin, ActionPermissionMixin, SafeInputMixin, admin.ModelAdmin):
    form = ConcertForm
    list_display = ("title", "performer", "venue", "date_count", "next_date", "sale_starts_at")
    search_fields = ("title", "performer", "venue")
    # Explicit: the counts below add a GROUP BY, which drops the model's default ordering.
    ordering = ("id",)
    inlines = [ScheduleInline]
    actions = ["generate_seat_maps"]
    concert_lookup = "pk"

    def get_queryset(self, request):
        now = timezone.now()
        return (
            super()
            .get_queryset(request)
            .annotate(
                date_count=Count("schedules"),
                next_date=Min("schedules__starts_at", filter=Q(schedules__starts_at__gt=now)),
                sale_starts=F("queue_room__sale_starts_at"),
            )
        )

    def concert_id_of(self, obj: Concert) -> int:
        return obj.pk

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        cache.catalog_changed(concert_ids=[form.instance.pk])  # its dates may have changed
        # Only a change is written, through the queue's service: the room gets its defaults, a
        # fresh seed when due, and the rooms' caches are dropped.
        if "sale_starts_at" in form.changed_data:
            room_save(
                concert_id=form.instance.pk, sale_starts_at=form.cleaned_data["sale_starts_at"]
            )

    @admin.display(description="Sale starts", ordering="sale_starts")
    def sale_starts_at(self, obj):
        return obj.sale_starts

    @admin.display(description="Dates", ordering="date_count")
    def date_count(self, obj) -> int:
        return obj.date_count

    @admin.display(description="Next date", ordering="next_date")
    def next_date(self, obj):
        return obj.next_date

    # Seats are part of a concert's catalog: making them takes the right to change concerts.
    @admin.action(
        description="Generate seat maps for all dates of the selected concerts",
        permissions=["change"],
    )
    def generate_seat_maps(self, request, queryset):
        schedules = ConcertSchedule.objects.filter(concert__in=queryset.values("pk"))
        return _generate_seat_maps(self, request, schedules, title="Generate seat maps")


@admin.register(ConcertSchedule)
class ConcertScheduleAdmin(
    CatalogCacheMixin, ActionPermissionMixin, SafeInputMixin, admin.ModelAdmin
):
    list_display = ("id", "concert", "starts_at", "seats", "checked_in")
    list_select_related = ("concert",)
    autocomplete_fields = ("concert",)
    search_fields = ("concert__title", "concert__performer")
    date_hierarchy = "starts_at"
    ordering = ("-starts_at",)
    actions = ["generate_seat_maps"]
    concert_lookup = "concert_id"

    def concert_id_of(self, obj: ConcertSchedule) -> int:
        return obj.concert_id

    def get_queryset(self, request):
        # Subqueries per listed date, not a join: no GROUP BY over every seat of every date.
        sold = (
            Reservation.objects.filter(
                seat__schedule_id=OuterRef("pk"), status=ReservationStatus.PAID
            )
            .order_by()
            .values("seat__schedule_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
        checked_in = (
            CheckIn.objects.filter(schedule_id=OuterRef("pk"))
            .order_by()
            .values("schedule_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                sold_count=Coalesce(Subquery(sold), 0),
                checked_in_count=Coalesce(Subquery(checked_in), 0),
            )
        )

    @admin.display(description="Checked in / sold")
    def checked_in(self, obj: ConcertSchedule) -> str:
        url = reverse("admin:booking_checkin_changelist") + f"?schedule={obj.pk}"
        return format_html('<a href="{}">{} / {}</a>', url, obj.checked_in_count, obj.sold_count)

    @admin.display(description="Seats")
    def seats(self, obj: ConcertSchedule) -> str:
        url = reverse("admin:booking_seat_changelist") + f"?schedule__id__exact={obj.pk}"
        return format_html('<a href="{}">Seats</a>', url)

    @admin.action(description="Generate the seat map of the selected dates", permissions=["change"])
    def generate_seat_maps(self, request, queryset):
        return _generate_seat_maps(self, request, queryset, title="Generate seat maps")


# --- Seats -------------------------------------------------------------------------------------


@admin.register(Seat)
class SeatAdmin(CatalogCacheMixin, ActionPermissionMixin, SafeInputMixin, admin.ModelAdmin):
    list_display = ("number", "row", "tier", "price", "status", "held_until", "concert", "date")
    list_select_related = ("schedule__concert",)
    list_filter = ("status",)
    # A million seats: no dropdown of every date, no exact count of the whole table.
    autocomplete_fields = ("schedule",)
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 100
    # Only the seat key's own order: sorting a million rows by another column is a full sort.
    sortable_by = ()
    # Status moves only through holds and payments, which keep reservations in step with it.
    readonly_fields = ("status", "held_until", "version")
    concert_lookup = "schedule__concert_id"

    def concert_id_of(self, obj: Seat) -> int:
        return obj.schedule.concert_id

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset.select_related("schedule"))

    @admin.display(description="Concert")
    def concert(self, obj: Seat) -> str:
        return obj.schedule.concert.title

    @admin.display(description="Date")
    def date(self, obj: Seat):
        return obj.schedule.starts_at


# --- Reservations ------------------------------------------------------------------------------


class IdInputFilter(admin.SimpleListFilter):
    """A filter that takes an id typed by the operator: a list of every concert or date would be
    one row per concert in the sidebar, and a query over the whole table to build it."""

    template = "admin/booking/input_filter.html"
    lookup: str = ""

    def lookups(self, request, model_admin):
        # Django shows a filter only when it has choices; the input box is the real one.
        return [("", "All")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None or value == "":
            return queryset
        if not value.isdigit() or len(value) > 18:
            return queryset.none()
        return queryset.filter(**{self.lookup: int(value)})

    def choices(self, changelist):
        # One pseudo-choice carrying the other active parameters, so the form keeps them.
        yield {
            "selected": self.value() is not None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "All",
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "other_params": {
                key: value
                for key, value in changelist.get_filters_params().items()
                if key != self.parameter_name
            },
        }


class ReadOnlyMixin:
    """Rows that only their services change: the console lists and shows them, never edits."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ConcertIdFilter(IdInputFilter):
    title = "concert id"
    parameter_name = "concert"
    lookup = "seat__schedule__concert_id"


class ScheduleIdFilter(IdInputFilter):
    title = "date id"
    parameter_name = "schedule"
    lookup = "seat__schedule_id"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyMixin, ActionPermissionMixin, SafeInputMixin, admin.ModelAdmin):
    # Reservations change only through the hold and payment services (and the actions here),
    # which keep seats, balances and the ledger in step; the form is for reading.

    list_display = (
        "id",
        "user",
        "concert",
        "date",
        "seat_label",
        "price",
        "status",
        "expires_at",
        "paid_at",
        "created_at",
    )
    list_select_related = ("user", "seat__schedule__concert")
    list_filter = (
        "status",
        ConcertIdFilter,
        ScheduleIdFilter,
        ("seat__schedule__starts_at", admin.DateFieldListFilter),
    )
    search_fields = ("=id", "^user__username", "seat__schedule__concert__title")
    search_help_text = "Reservation id, the start of a username, or words of a concert title."
    raw_id_fields = ("user", "seat")
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 50
    actions = ["release_holds"]

    # The form is read-only, yet releasing a hold changes the reservation: change permission.
    def has_release_permission(self, request) -> bool:
        return request.user.has_perm("booking.change_reservation")

    @admin.display(description="Concert")
    def concert(self, obj: Reservation) -> str:
        return obj.seat.schedule.concert.title

    @admin.display(description="Date", ordering="seat__schedule__starts_at")
    def date(self, obj: Reservation):
        return obj.seat.schedule.starts_at

    @admin.display(description="Seat")
    def seat_label(self, obj: Reservation) -> str:
        return f"Row {obj.seat.row}, seat {obj.seat.number}"

    @admin.action(
        description="Release the selected holds (free their seats)", permissions=["release"]
    )
    def release_holds(self, request, queryset):
        others = queryset.exclude(status=ReservationStatus.HELD).count()
        released = 0
        for reservation in queryset.filter(status=ReservationStatus.HELD).select_related("user"):
            try:
                services.reservation_cancel(user=reservation.user, reservation_id=reservation.pk)
            except ApplicationError as exc:
                self.message_user(request, f"#{reservation.pk}: {exc.detail}", messages.WARNING)
            else:
                released += 1
        self.message_user(
            request,
            f"Released {released} hold(s)."
            + (f" {others} selected reservation(s) were not holds." if others else ""),
        )


# --- Check-ins at the door -----------------------------------------------------------------


class OwnScheduleIdFilter(IdInputFilter):
    """For rows that name their date themselves (check-ins, waiting-list entries)."""

    title = "date id"
    parameter_name = "schedule"
    lookup = "schedule_id"


@admin.register(CheckIn)
class CheckInAdmin(ReadOnlyMixin, SafeInputMixin, admin.ModelAdmin):
    """Who came in, per date. A scan is a record of what happened: nobody edits one."""

    list_display = ("checked_in_at", "concert", "date", "seat_label", "holder", "staff")
    list_select_related = ("schedule__concert", "reservation__seat", "reservation__user", "staff")
    list_filter = (OwnScheduleIdFilter, ("checked_in_at", admin.DateFieldListFilter))
    search_fields = ("=reservation__id", "^reservation__user__username")
    search_help_text = "Reservation id, or the start of the holder's username."
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 100
    sortable_by = ("checked_in_at",)

    @admin.display(description="Concert")
    def concert(self, obj: CheckIn) -> str:
        return obj.schedule.concert.title

    @admin.display(description="Date")
    def date(self, obj: CheckIn):
        return obj.schedule.starts_at

    @admin.display(description="Seat")
    def seat_label(self, obj: CheckIn) -> str:
        seat = obj.reservation.seat
        return f"Row {seat.row}, seat {seat.number}"

    @admin.display(description="Holder")
    def holder(self, obj: CheckIn) -> str:
        return obj.reservation.user.get_username()


# --- Waiting lists -----------------------------------------------------------------------------


class WaitlistConcertIdFilter(IdInputFilter):
    title = "concert id"
    parameter_name = "concert"
    lookup = "schedule__concert_id"


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(ReadOnlyMixin, SafeInputMixin, admin.ModelAdmin):
    """Who waits for which date, in line order, and the seat held for whom until when. Entries
    change only through the waiting-list services and the seats coming back."""

    list_display = (
        "id",
        "date",
        "concert",
        "user",
        "status",
        "created_at",
        "offered_seat",
        "offer_until",
    )
    list_select_related = ("user", "schedule__concert", "offer__seat")
    list_filter = ("status", OwnScheduleIdFilter, WaitlistConcertIdFilter)
    search_fields = ("=id", "^user__username", "schedule__concert__title")
    search_help_text = "Entry id, the start of a username, or words of a concert title."
    # A date's list in line order once filtered by its id.
    ordering = ("schedule_id", "created_at", "id")
    raw_id_fields = ("user", "schedule", "offer")
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description="Date", ordering="schedule__starts_at")
    def date(self, obj: WaitlistEntry):
        return obj.schedule.starts_at

    @admin.display(description="Concert")
    def concert(self, obj: WaitlistEntry) -> str:
        return obj.schedule.concert.title

    @admin.display(description="Offered seat")
    def offered_seat(self, obj: WaitlistEntry) -> str:
        if obj.offer is None:
            return "-"
        return f"Row {obj.offer.seat.row}, seat {obj.offer.seat.number}"

    @admin.display(description="Held until", ordering="offer__expires_at")
    def offer_until(self, obj: WaitlistEntry):
        return obj.offer.expires_at if obj.offer is not None else None
