"""Operator console for money: payments, ledger, wallets, refunds and the outbox's events."""

import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from booking.admin import (
    ActionPermissionMixin,
    LargeTablePaginator,
    ReadOnlyMixin,
    ReservationAdmin,
    SafeInputMixin,
)
from booking.models import Reservation, ReservationStatus
from concertbooking.errors import ApplicationError
from payments import services
from payments.models import LedgerEntry, OutboxEvent, Payment, TopUp, Wallet


class ReadOnlyAdmin(ReadOnlyMixin, ActionPermissionMixin, SafeInputMixin, admin.ModelAdmin):
    """Money rows change only through the services, which keep balances and the ledger equal."""

    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 50


def _action_page(modeladmin, request, *, template: str, title: str, **context):
    return TemplateResponse(
        request,
        template,
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "opts": modeladmin.model._meta,
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "action": request.POST.get("action", ""),
            "select_across": request.POST.get("select_across", "0"),
            **context,
        },
    )


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "reservation_link", "amount", "paid_at")
    list_select_related = ("user",)
    list_filter = (("paid_at", admin.DateFieldListFilter),)
    search_fields = ("=id", "^user__username", "=reservation__id")
    search_help_text = "Payment id, the start of a username, or a reservation id."
    raw_id_fields = ("user", "reservation")

    @admin.display(description="Reservation")
    def reservation_link(self, obj: Payment) -> str:
        url = reverse("admin:booking_reservation_change", args=[obj.reservation_id])
        return format_html('<a href="{}">#{}</a>', url, obj.reservation_id)


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "user",
        "amount",
        "status",
        "gateway",
        "gateway_payment_id",
        "created_at",
        "confirmed_at",
    )
    list_select_related = ("user",)
    list_filter = ("status", "gateway")
    search_fields = ("=id", "^user__username", "=gateway_payment_id")
    search_help_text = "A top-up id, the start of a username, or a gateway's payment id."
    raw_id_fields = ("user",)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "user",
        "kind",
        "amount",
        "balance_after",
        "payment_id",
        "gateway_payment",
        "created_at",
    )
    list_select_related = ("wallet__user", "top_up")
    list_filter = ("kind",)
    search_fields = (
        "^wallet__user__username",
        "=wallet__id",
        "=payment__id",
        "=top_up__gateway_payment_id",
    )
    search_help_text = (
        "The start of a username, a wallet id, a payment id or a gateway's payment id."
    )
    raw_id_fields = ("wallet", "payment", "top_up")

    @admin.display(description="User")
    def user(self, obj: LedgerEntry) -> str:
        return obj.wallet.user.get_username()

    @admin.display(description="Gateway payment")
    def gateway_payment(self, obj: LedgerEntry) -> str:
        """Where a charge's money came from: the gateway and its payment id, linked to the
        top-up."""
        if obj.top_up is None:
            return "-"
        url = reverse("admin:payments_topup_change", args=[obj.top_up_id])
        return format_html(
            '<a href="{}">{}: {}</a>', url, obj.top_up.gateway, obj.top_up.gateway_payment_id
        )


class AdjustForm(forms.Form):
    amount = forms.IntegerField(
        help_text="Positive to credit, negative to debit. A debit cannot take a balance below 0."
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0 or abs(amount) >= settings.CHARGE_MAX_AMOUNT:
            raise forms.ValidationError(
                f"Enter a whole number other than 0, below {settings.CHARGE_MAX_AMOUNT:,} "
                "either way."
            )
        return amount


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "balance", "updated_at", "ledger")
    list_select_related = ("user",)
    search_fields = ("^user__username", "=id")
    search_help_text = "The start of a username, or a wallet id."
    raw_id_fields = ("user",)
    actions = ["adjust_balance"]

    @admin.display(description="Ledger")
    def ledger(self, obj: Wallet) -> str:
        url = reverse("admin:payments_ledgerentry_changelist") + f"?wallet__id__exact={obj.pk}"
        top_ups = reverse("admin:payments_topup_changelist") + f"?user__id__exact={obj.user_id}"
        return format_html('<a href="{}">Entries</a> · <a href="{}">Top-ups</a>', url, top_ups)

    # The rows are read-only, yet an adjustment changes the wallet: change permission.
    def has_adjust_permission(self, request) -> bool:
        return request.user.has_perm("payments.change_wallet")

    @admin.action(description="Adjust the balance of the selected wallets", permissions=["adjust"])
    def adjust_balance(self, request, queryset):
        wallets = list(queryset.select_related("user").order_by("pk"))
        if "apply" in request.POST:
            form = AdjustForm(request.POST)
        else:
            form = AdjustForm(initial={"idempotency_key": uuid.uuid4().hex})
        if form.is_valid():
            for wallet in wallets:
                try:
                    outcome = services.wallet_adjust(
                        operator=request.user,
                        user_id=wallet.user_id,
                        amount=form.cleaned_data["amount"],
                        # One key per wallet: sending the form twice adjusts each once.
                        idempotency_key=f"{form.cleaned_data['idempotency_key']}-{wallet.pk}",
                    )
                except ApplicationError as exc:
                    self.message_user(request, f"{wallet.user}: {exc.detail}", messages.ERROR)
                else:
                    self.message_user(
                        request,
                        f"{wallet.user}: balance is now {outcome.body['balance']:,} "
                        "(ledger entry written).",
                    )
            return None
        return _action_page(
            self,
            request,
            template="admin/payments/adjust_balance.html",
            title="Adjust balances",
            form=form,
            wallets=wallets,
        )


class OutboxStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("delivered", "Delivered"),
            ("pending", "Waiting to be tried"),
            ("given_up", f"Failed {settings.OUTBOX_MAX_ATTEMPTS} times: needs a retry"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "delivered":
            return queryset.filter(delivered_at__isnull=False)
        undelivered = queryset.filter(delivered_at__isnull=True)
        if self.value() == "pending":
            return undelivered.filter(next_attempt_at__isnull=False)
        if self.value() == "given_up":
            return undelivered.filter(next_attempt_at__isnull=True)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "event_type",
        "created_at",
        "delivered_at",
        "attempts",
        "next_try",
        "error",
    )
    # No filter by event type: its choices would cost a DISTINCT over the whole table per page.
    list_filter = (OutboxStateFilter,)
    search_fields = ("=id",)
    search_help_text = "An event id."
    actions = ["retry_now"]

    @admin.display(description="Next try")
    def next_try(self, obj: OutboxEvent):
        if obj.delivered_at is not None:
            return "-"
        if obj.next_attempt_at is None:
            return "none: waiting for an operator's retry"
        return obj.next_attempt_at

    @admin.display(description="Last error")
    def error(self, obj: OutboxEvent) -> str:
        return obj.last_error[:120]

    # The rows are read-only, yet a retry changes the event: change permission.
    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("payments.change_outboxevent")

    @admin.action(
        description="Try the selected undelivered events again now", permissions=["retry"]
    )
    def retry_now(self, request, queryset):
        count = services.outbox_retry(event_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            f"{count} event(s) due now; a relay is on its way. Delivered events are left alone.",
        )


# The refund needs payments, and booking knows nothing of payments: the console's reservation
# page gets its refund action from here.
class ReservationRefundAdmin(ReservationAdmin):
    actions = [*ReservationAdmin.actions, "refund_paid"]

    # A refund cancels the reservation and pays back exactly its price: the permission that
    # releasing a hold needs.
    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm("booking.change_reservation")

    @admin.action(
        description="Cancel the selected paid reservations and refund the buyers",
        permissions=["refund"],
    )
    def refund_paid(self, request, queryset):
        paid = list(
            queryset.filter(status=ReservationStatus.PAID)
            .select_related("user", "seat__schedule__concert")
            .order_by("pk")
        )
        if not paid:
            self.message_user(
                request, "None of the selected reservations is paid.", messages.WARNING
            )
            return None
        if "apply" not in request.POST:
            return _action_page(
                self,
                request,
                template="admin/payments/refund_confirm.html",
                title="Refund paid reservations",
                reservations=paid,
                total=sum(r.price for r in paid),
            )
        refunded, total = 0, 0
        for reservation in paid:
            try:
                services.payment_refund(reservation_id=reservation.pk)
            except ApplicationError as exc:
                self.message_user(request, f"#{reservation.pk}: {exc.detail}", messages.WARNING)
            else:
                refunded += 1
                total += reservation.price
        self.message_user(
            request,
            f"Refunded {refunded} reservation(s), {total:,} in all; their seats are on sale again.",
        )
        return None


admin.site.unregister(Reservation)
admin.site.register(Reservation, ReservationRefundAdmin)
