"""In a real browser: the sign-up's proof of work, and changing the password."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.e2e.helpers import log_in, sign_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_the_browser_solves_the_sign_up_challenge(page, settings):
    assert settings.SIGNUP_CHALLENGE_ENABLED  # the default: on
    page.goto("/accounts/signup/")
    button = page.get_by_role("button", name="Sign up")
    page.get_by_label("Username").fill("frank")
    page.get_by_label("Password", exact=True).fill("a-long-pass-phrase-42")
    page.get_by_label("Password confirmation").fill("a-long-pass-phrase-42")
    expect(page.get_by_text("Done: you can sign up.")).to_be_visible(timeout=30_000)
    expect(button).to_be_enabled()
    assert page.locator("input[name=proof_nonce]").input_value().isdigit()
    button.click()
    expect(page.get_by_text("Welcome, frank!")).to_be_visible()
    assert get_user_model().objects.filter(username="frank").exists()


def test_change_the_password_and_sign_in_with_it(page):
    sign_up(page, "grace")
    page.get_by_role("link", name="Password").click()
    page.get_by_label("Current password").fill("a-long-pass-phrase-42")
    page.get_by_label("New password", exact=True).fill("another-long-phrase-77")
    page.get_by_label("New password again").fill("another-long-phrase-77")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password is changed.")).to_be_visible()
    expect(page.locator(".site-nav__user")).to_have_text("grace")  # still signed in
    page.get_by_role("button", name="Log out").click()
    log_in(page, "grace", "another-long-phrase-77")
