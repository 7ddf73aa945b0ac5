"""Rate limits against real Redis: the shared counter, its atomicity under threads beside DRF's
own throttle as a control, and the refusal of every limited operation on the API and the pages."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from rest_framework.test import APIRequestFactory
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from booking.models import Reservation
from booking.tests.factories import SeatFactory
from concertbooking.limits import Rate, rate_limit_count, rate_parse
from payments.selectors import wallet_balance
from queueing import selectors as queue_selectors

pytestmark = pytest.mark.django_db


def _limits(settings, scope: str, **rates: str) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, scope: rates}


def test_rates_read_as_count_per_window():
    assert rate_parse("10/m") == Rate(count=10, seconds=60)
    assert rate_parse("5/10s") == Rate(count=5, seconds=10)
    assert rate_parse(" 100/D ") == Rate(count=100, seconds=86400)
    assert rate_parse("off") is None
    for bad in ("10", "0/m", "10/w", "-1/s", "ten/m"):
        with pytest.raises(ImproperlyConfigured):
            rate_parse(bad)


def _burst(call, *, threads: int = 24) -> int:
    """How many of `threads` simultaneous calls were let through."""
    start = threading.Barrier(threads)
    passed = []

    def worker():
        start.wait()
        passed.append(call())

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sum(passed)


def test_drf_cache_throttle_lets_a_burst_through_and_ours_does_not(rate_limits, settings):
    """Control: DRF's SimpleRateThrottle reads the request history and writes it back, so
    callers racing through the same moment all see room. Ours counts in one script."""
    view = type("ControlView", (APIView,), {"throttle_scope": "control"})()

    class ControlThrottle(ScopedRateThrottle):
        THROTTLE_RATES = {"control": "3/m"}

    def drf_burst(round_: int) -> int:
        # A fresh address each round: a spent history refuses everyone, racing or not.
        request = APIRequestFactory().get("/", REMOTE_ADDR=f"10.0.0.{round_}")
        request.user = AnonymousUser()
        return _burst(lambda: ControlThrottle().allow_request(request, view))

    drf_passed = [drf_burst(round_) for round_ in range(10)]
    assert max(drf_passed) > 3, drf_passed

    _limits(settings, "hold", ip="3/m")
    for attempt in range(5):
        ip = f"10.0.1.{attempt}"
        assert _burst(lambda ip=ip: rate_limit_count(scope="hold", ip=ip) == 0) == 3


def test_the_switch_turns_every_limit_off(settings):
    _limits(settings, "hold", ip="1/m", user="1/m")
    assert not settings.RATE_LIMITS_ENABLED  # the suite's default
    assert [rate_limit_count(scope="hold", ip="10.0.0.9", user=1) for _ in range(5)] == [0] * 5


def test_a_refusal_counts_nothing_and_says_how_long(rate_limits, settings):
    _limits(settings, "hold", ip="2/m", user="5/m")
    assert rate_limit_count(scope="hold", ip="10.0.0.2", user=7) == 0
    assert rate_limit_count(scope="hold", ip="10.0.0.2", user=7) == 0
    wait = rate_limit_count(scope="hold", ip="10.0.0.2", user=7)
    assert 0 < wait <= 60
    # The refused request did not spend the user's allowance: three more from elsewhere pass.
    assert [rate_limit_count(scope="hold", ip=f"10.0.0.{n}", user=7) for n in (3, 3, 4)] == [0] * 3
    assert rate_limit_count(scope="hold", ip="10.0.0.5", user=7) > 0


def _sign_in(api_client, username: str, ip: str):
    return api_client.post(
        "/api/auth/token",
        {"username": username, "password": "wrong"},
        format="json",
        REMOTE_ADDR=ip,
    )


def test_sign_in_is_limited_per_address(rate_limits, settings, api_client, user):
    _limits(settings, "signin", ip="3/m", user="100/m")
    answers = [_sign_in(api_client, f"guess{i}", "10.0.0.5").status_code for i in range(3)]
    assert answers == [400, 400, 400]
    refused = _sign_in(api_client, "alice", "10.0.0.5")
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert 0 < int(refused["Retry-After"]) <= 60
    # Even the right password waits; another address is not affected.
    right = {"username": "alice", "password": "pw-alice-123"}
    for ip, answer in (("10.0.0.5", 429), ("10.0.0.6", 200)):
        sent = api_client.post("/api/auth/token", right, format="json", REMOTE_ADDR=ip)
        assert sent.status_code == answer


def test_sign_in_is_limited_per_username_across_addresses_and_the_page(
    rate_limits, settings, api_client, client, user
):
    _limits(settings, "signin", ip="100/m", user="2/m")
    assert _sign_in(api_client, "alice", "10.0.1.1").status_code == 400
    assert _sign_in(api_client, "Alice", "10.0.1.2").status_code == 400
    assert _sign_in(api_client, "alice", "10.0.1.3").status_code == 429
    page = client.post(
        reverse("login"), {"username": "alice", "password": "pw-alice-123"}, REMOTE_ADDR="10.0.1.4"
    )
    assert page.status_code == 429
    assert "Please wait" in page.content.decode()
    assert int(page["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    assert _sign_in(api_client, "bob", "10.0.1.1").status_code == 400


def test_sign_up_page_is_limited_per_address_and_creates_nobody(rate_limits, settings, client):
    _limits(settings, "signup", ip="1/h")
    settings.SIGNUP_CHALLENGE_ENABLED = False  # the proof has tests of its own
    form = {"username": "first", "password1": "Sturdy-pass-9271", "password2": "Sturdy-pass-9271"}
    assert client.post(reverse("signup"), form).status_code == 302
    client.logout()
    refused = client.post(reverse("signup"), {**form, "username": "second"})
    assert refused.status_code == 429
    assert "Please wait" in refused.content.decode()
    assert not get_user_model().objects.filter(username="second").exists()
    # Showing the form is not counted.
    assert client.get(reverse("signup")).status_code == 200


def test_queue_join_is_limited_and_a_refused_join_takes_no_place(
    rate_limits, settings, api_client, user, other_user
):
    _limits(settings, "queue_join", ip="1/m", user="10/m")
    api_client.force_authenticate(user)
    assert api_client.post("/api/queue/tokens").status_code == 201
    api_client.force_authenticate(other_user)
    refused = api_client.post("/api/queue/tokens")
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    assert queue_selectors.queue_stats().waiting == 1


def test_queue_join_page_shares_the_count_with_the_api(rate_limits, settings, api_client, user):
    from queueing.testing import page_client

    _limits(settings, "queue_join", ip="100/m", user="1/m")
    api_client.force_authenticate(user)
    assert api_client.post("/api/queue/tokens").status_code == 201
    page = page_client(user, admitted=False).post(reverse("queue-join"), {"next": "/"})
    assert page.status_code == 429
    assert "Please wait" in page.content.decode()


def test_holds_are_limited_and_a_refused_hold_holds_nothing(
    rate_limits, settings, admitted_client, client_in
):
    _limits(settings, "hold", ip="100/m", user="1/m")
    first, second, third = SeatFactory.create_batch(3)
    held = admitted_client.post("/api/reservation/concerts", {"seat_id": first.pk}, format="json")
    assert held.status_code == 201
    refused = admitted_client.post(
        "/api/reservation/concerts", {"seat_id": second.pk}, format="json"
    )
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    page = client_in.post(
        reverse("booking-seat-hold", args=[third.schedule_id]), {"seat_id": third.pk}
    )
    assert page.status_code == 429
    assert list(Reservation.objects.values_list("seat_id", flat=True)) == [first.pk]


def test_top_ups_are_limited_and_a_refused_top_up_adds_nothing(
    rate_limits, settings, auth_client, client_in, user
):
    _limits(settings, "topup", ip="100/m", user="1/m")
    charge = "/api/users/me/balance/charge"
    assert auth_client.post(charge, {"amount": 500}, format="json").status_code == 200
    refused = auth_client.post(charge, {"amount": 500}, format="json")
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    page = client_in.post(reverse("wallet-top-up"), {"amount": "500"})
    assert page.status_code == 429
    assert wallet_balance(user_id=user.pk) == 500


def test_every_limited_operation_documents_its_429(api_client):
    import yaml

    paths = yaml.safe_load(api_client.get("/api/schema").content)["paths"]
    for path, method in [
        ("/api/auth/token", "post"),
        ("/api/queue/tokens", "post"),
        ("/api/queue/tokens/current", "get"),
        ("/api/reservation/concerts", "post"),
        ("/api/users/me/balance/charge", "post"),
    ]:
        assert "429" in paths[path][method]["responses"], (path, method)


@pytest.mark.parametrize(
    "spelling", [" alice ", "ALICE", "ａｌｉｃｅ"], ids=["padded", "case", "wide"]
)
def test_no_spelling_of_one_username_gets_a_fresh_sign_in_allowance(
    rate_limits, settings, api_client, client, user, spelling
):
    """Sign-in reads the name trimmed (and the page NFKC-normalized): so does its limit."""
    _limits(settings, "signin", ip="100/m", user="2/m")
    for i in range(2):
        api_client.post(
            "/api/auth/token",
            {"username": "alice", "password": "wrong"},
            format="json",
            REMOTE_ADDR=f"10.9.0.{i}",
        )
    api = api_client.post(
        "/api/auth/token",
        {"username": spelling, "password": "pw-alice-123"},
        format="json",
        REMOTE_ADDR="10.9.0.51",
    )
    assert api.status_code == 429
    page = client.post(
        reverse("login"),
        {"username": spelling, "password": "pw-alice-123"},
        REMOTE_ADDR="10.9.2.51",
    )
    assert page.status_code == 429


def test_a_username_sent_as_a_json_number_is_counted(rate_limits, settings, api_client):
    _limits(settings, "signin", ip="100/m", user="2/m")
    codes = [
        api_client.post(
            "/api/auth/token",
            {"username": 12345, "password": "wrong"},
            format="json",
            REMOTE_ADDR=f"10.9.1.{i}",
        ).status_code
        for i in range(3)
    ]
    assert codes == [400, 400, 429]
