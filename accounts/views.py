"""Sign up, log in and log out pages (Django's auth views plus a sign-up form)."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView, LogoutView
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters

from accounts import services
from accounts.forms import SignUpForm
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
            login(request, user)  # the one backend in AUTHENTICATION_BACKENDS
            messages.success(request, f"Welcome, {user.get_username()}! Your account is ready.")
            return redirect(_safe_next(request) or "home")
    return render(request, "accounts/signup.html", {"form": form, "next": _safe_next(request)})


@method_decorator(rate_limited("signin", user=username_tried), name="dispatch")
class SiteLoginView(LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class SiteLogoutView(LogoutView):
    """POST only (Django's rule), so a link on another site cannot sign a buyer out."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are signed out.")
        return response
