"""Forms of the paying pages."""

from django import forms
from django.conf import settings


class TopUpForm(forms.Form):
    amount = forms.IntegerField(min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read per form, so a changed CHARGE_MAX_AMOUNT applies without a restart of tests.
        self.fields["amount"] = forms.IntegerField(
            min_value=1, max_value=settings.CHARGE_MAX_AMOUNT - 1
        )
