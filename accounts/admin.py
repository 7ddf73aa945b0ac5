"""Operator console for accounts: the sign-in lockout's failed attempts (django-axes).

Registered here rather than by axes (AXES_ENABLE_ADMIN off) so the list refuses a NUL byte in
its filters kindly, as every list of the console does; successes are not logged, so axes'
access log has no list.
"""

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin

from concertbooking.admin import SafeInputMixin


@admin.register(AccessAttempt)
class AccessAttemptAdmin(SafeInputMixin, AxesAccessAttemptAdmin):
    """Failed sign-ins per account and address; deleting a row lifts its lockout."""
