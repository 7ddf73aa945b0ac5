"""Account forms: they validate input; the views call accounts.services to act on it."""

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError

from accounts.services import sign_in_locked
from accounts.signup_proof import proof_error


class SignUpForm(UserCreationForm):
    """Validates only; the view creates the user through accounts.services.user_create."""

    email = forms.EmailField(required=False, help_text="Optional: for your ticket confirmations.")
    # The proof of work the page's script fills in (accounts.signup_proof).
    proof_challenge = forms.CharField(required=False, widget=forms.HiddenInput)
    proof_nonce = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def _post_clean(self):
        super()._post_clean()  # the password rules run here, after clean()
        if settings.SIGNUP_CHALLENGE_ENABLED and not self.errors:
            # Last, so a proof is used up only by a sign-up that is otherwise valid.
            data = self.cleaned_data
            error = proof_error(data.get("proof_challenge", ""), data.get("proof_nonce", ""))
            if error:
                self.add_error(None, ValidationError(error, code="signup_proof"))


def _password_field(label: str, autocomplete: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        help_text=help_text,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


class PasswordChangeForm(forms.Form):
    """The fields and their match; the service checks the current password and the rules."""

    old_password = _password_field("Current password", "current-password")
    new_password1 = _password_field(
        "New password", "new-password", password_validation.password_validators_help_text_html()
    )
    new_password2 = _password_field("New password again", "new-password")

    def clean(self):
        data = super().clean()
        if data.get("new_password1") != data.get("new_password2"):
            self.add_error("new_password2", "The two new passwords differ.")
        return data


class SignInForm(AuthenticationForm):
    """Django's sign-in form, saying so when the lockout refused the attempt."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            if self.locked_out():
                minutes = max(1, round(settings.LOGIN_LOCKOUT_SECONDS / 60))
                raise ValidationError(
                    f"Too many wrong passwords: sign-in to this account from your address is "
                    f"locked for {minutes} minutes. Wait that long, then try again.",
                    code="locked_out",
                ) from None
            raise

    def locked_out(self) -> bool:
        return sign_in_locked(self.request)
