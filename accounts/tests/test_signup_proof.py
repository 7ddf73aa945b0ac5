"""Sign-up asks for a proof of work: a missing, wrong, forged, expired or reused one re-shows
the form with a friendly message and creates no user."""

import re
from itertools import count

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.signup_proof import _leading_zero_bits, answer_digest

pytestmark = pytest.mark.django_db

SIGNUP = "/accounts/signup/"
FIELDS = {
    "username": "carol",
    "password1": "a-long-pass-phrase-42",
    "password2": "a-long-pass-phrase-42",
}


@pytest.fixture(autouse=True)
def _cheap_proof(settings):
    settings.SIGNUP_CHALLENGE_ENABLED = True
    settings.SIGNUP_CHALLENGE_BITS = 8


def _challenge(browser: Client) -> tuple[str, int]:
    page = browser.get(SIGNUP).content.decode()
    challenge = re.search(r'data-proof="([^"]+)"', page).group(1)
    bits = int(re.search(r'data-proof-bits="(\d+)"', page).group(1))
    return challenge, bits


def _solve(challenge: str, bits: int) -> str:
    """What static/js/signup-proof.js does, in Python."""
    return next(
        str(n) for n in count() if _leading_zero_bits(answer_digest(challenge, str(n))) >= bits
    )


def _post(browser, **proof):
    return browser.post(SIGNUP, {**FIELDS, **proof})


def _users() -> int:
    return get_user_model().objects.count()


def test_a_solved_challenge_signs_up():
    browser = Client()
    challenge, bits = _challenge(browser)
    response = _post(browser, proof_challenge=challenge, proof_nonce=_solve(challenge, bits))
    assert response.status_code == 302
    assert _users() == 1


def _wrong_nonce(challenge, bits):
    nonce = int(_solve(challenge, bits))
    return next(
        str(n)
        for n in count(nonce + 1)
        if _leading_zero_bits(answer_digest(challenge, str(n))) < bits
    )


@pytest.mark.parametrize(
    ("proof", "message"),
    [
        (lambda c, b: {}, "did not run"),
        (lambda c, b: {"proof_challenge": c}, "did not finish"),
        (lambda c, b: {"proof_challenge": c, "proof_nonce": _wrong_nonce(c, b)}, "did not finish"),
        (  # the cost lowered by the client: the signature no longer matches
            lambda c, b: {"proof_challenge": "0" + c[1:], "proof_nonce": "0"},
            "did not run",
        ),
    ],
)
def test_a_missing_or_bad_proof_reshows_the_form_and_creates_no_user(proof, message):
    browser = Client()
    challenge, bits = _challenge(browser)
    response = _post(browser, **proof(challenge, bits))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert 'data-proof="' in response.content.decode()  # a new challenge to try again with
    assert _users() == 0


def test_a_proof_is_good_once():
    browser = Client()
    challenge, bits = _challenge(browser)
    nonce = _solve(challenge, bits)
    assert _post(browser, proof_challenge=challenge, proof_nonce=nonce).status_code == 302
    replay = Client().post(
        SIGNUP, {**FIELDS, "username": "dave", "proof_challenge": challenge, "proof_nonce": nonce}
    )
    assert "already used" in replay.content.decode()
    assert _users() == 1


def test_an_expired_challenge_is_refused(settings):
    settings.SIGNUP_CHALLENGE_SECONDS = -1
    browser = Client()
    challenge, bits = _challenge(browser)
    response = _post(browser, proof_challenge=challenge, proof_nonce=_solve(challenge, bits))
    assert "expired" in response.content.decode()
    assert _users() == 0


def test_a_form_error_does_not_use_the_proof_up():
    browser = Client()
    challenge, bits = _challenge(browser)
    nonce = _solve(challenge, bits)
    bad = browser.post(
        SIGNUP, {**FIELDS, "password2": "other", "proof_challenge": challenge, "proof_nonce": nonce}
    )
    assert bad.status_code == 200 and _users() == 0
    assert _post(browser, proof_challenge=challenge, proof_nonce=nonce).status_code == 302


def test_the_switch_turns_the_proof_off(settings):
    settings.SIGNUP_CHALLENGE_ENABLED = False
    browser = Client()
    assert "data-proof" not in browser.get(SIGNUP).content.decode()
    assert _post(browser).status_code == 302


def test_a_password_the_rules_refuse_does_not_use_the_proof_up():
    """The password rules run after the form's clean(): the proof is checked after them."""
    browser = Client()
    challenge, bits = _challenge(browser)
    nonce = _solve(challenge, bits)
    weak = {"password1": "123", "password2": "123"}
    bad = browser.post(
        SIGNUP, {**FIELDS, **weak, "proof_challenge": challenge, "proof_nonce": nonce}
    )
    assert bad.status_code == 200 and _users() == 0
    assert _post(browser, proof_challenge=challenge, proof_nonce=nonce).status_code == 302
