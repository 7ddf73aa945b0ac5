"""Console plumbing every app's admin shares."""

from django.contrib import messages
from django.contrib.admin.options import IS_POPUP_VAR, TO_FIELD_VAR
from django.http import HttpResponseRedirect
from django.utils.http import urlencode


def _has_nul(params) -> bool:
    return any("\x00" in key or "\x00" in "".join(values) for key, values in params.lists())


class SafeInputMixin:
    """Lists refuse a NUL byte anywhere in their query string: PostgreSQL rejects NUL in text,
    so a filter or search carrying one would end in a database error (a 500).

    Searches also drop it, because the admin's autocomplete endpoint does not pass through the
    list view.
    """

    def changelist_view(self, request, extra_context=None):
        if _has_nul(request.GET) and self.has_view_or_change_permission(request):
            self.message_user(
                request,
                "Filters and searches cannot contain a NUL character; showing the whole list.",
                messages.WARNING,
            )
            # A related-object popup stays a popup.
            keep = {
                key: request.GET[key]
                for key in (IS_POPUP_VAR, TO_FIELD_VAR)
                if key in request.GET and "\x00" not in request.GET[key]
            }
            return HttpResponseRedirect(request.path + (f"?{urlencode(keep)}" if keep else ""))
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, search_term.replace("\x00", ""))
