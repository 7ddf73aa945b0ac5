"""Sign-up form: Django's validation of names and passwords, without its save()."""

from django import forms
from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    """Validates only; the view creates the user through accounts.services.user_create."""

    email = forms.EmailField(required=False, help_text="Optional: for your ticket confirmations.")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")
