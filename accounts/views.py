"""Sign up, log in, log out and password pages (Django's auth views plus our forms)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters

from accounts import services
from accounts.errors import LockedOut, PasswordIncorrect, PasswordInvalid
from accounts.forms import PasswordChangeForm, SignInForm, SignUpForm
from accounts.signup_proof import challenge_issue
from concertbooking.limits import rate_limited, username_tried


def _safe_next(request) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


@sensitive_post_parameters("password1", "password2")
@rate_limited("signup")
def signup(request):
    if request.user.is_authenticated:
        return redirect(_safe_next(request) or "home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                email=form.cleaned_data.get("email") or "",
            )
        except IntegrityError:
            # Two sign-ups raced for one name; the unique key decided, the form explains.
            form.add_error("username", "A user with that username already exists.")
        else:
            # Named: the lockout's backend comes first and signs nobody in.
            login(request, user, backend="accounts.backends.RememberingModelBackend")
            messages.success(request, f"Welcome, {user.get_username()}! Your account is ready.")
            return redirect(_safe_next(request) or "home")
    # A new challenge on every showing: one already sent may have been used.
    proof = challenge_issue() if settings.SIGNUP_CHALLENGE_ENABLED else None
    return render(
        request,
        "accounts/signup.html",
        {"form": form, "next": _safe_next(request), "proof": proof},
    )


@method_decorator(rate_limited("signin", user=username_tried), name="dispatch")
class SiteLoginView(LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
    authentication_form = SignInForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.locked_out():
            response.status_code = 429  # the page, with the form saying for how long
        return response


class SiteLogoutView(LogoutView):
    """POST only (Django's rule), so a link on another site cannot sign a buyer out."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are signed out.")
        return response


@login_required
@sensitive_post_parameters("old_password", "new_password1", "new_password2")
def password_change(request):
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_password_change(
                user=request.user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password1"],
                request=request,
            )
        except (PasswordIncorrect, LockedOut) as error:
            form.add_error("old_password", error.detail)
        except PasswordInvalid as error:
            form.add_error("new_password1", error.detail)
        else:
            update_session_auth_hash(request, request.user)  # this browser stays signed in
            messages.success(
                request,
                "Your password is changed. Your other browsers and API tokens are signed out.",
            )
            return redirect("home")
    return render(request, "accounts/password_change.html", {"form": form})
