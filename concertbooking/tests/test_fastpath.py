"""The fast path (concertbooking.fastpath) answers plain API calls exactly as the whole stack
does, and leaves every other call to the whole stack."""

import json
import re

import pytest
import redis
from rest_framework.parsers import FormParser
from rest_framework.permissions import IsAdminUser
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from booking.api.views import AvailableDatesApi, AvailableSeatsApi, ReservationCreateApi
from booking.tests.factories import ScheduleFactory, schedule_with_seats
from concertbooking import fastpath
from payments.api.views import PaymentCreateApi
from queueing import services
from queueing.api.views import QueueTokenCurrentApi, QueueTokenIssueApi
from queueing.keys import queue_keys
from queueing.testing import admit

pytestmark = pytest.mark.django_db

FAST = "concertbooking.fastpath.ApiFastPathMiddleware"
STATUS = "/api/queue/tokens/current"
ISSUE = "/api/queue/tokens"
HOLD = "/api/reservation/concerts"
PAY = "/api/reservation/payments"


@pytest.fixture
def drf_dispatches(monkeypatch) -> list[str]:
    """The paths DRF's dispatch handled: a call the fast path answered is not among them."""
    seen: list[str] = []
    dispatch = APIView.dispatch

    def recording(self, request, *args, **kwargs):
        seen.append(request.path_info)
        return dispatch(self, request, *args, **kwargs)

    monkeypatch.setattr(APIView, "dispatch", recording)
    return seen


@pytest.fixture
def clients(settings, user, unremembered_client):
    """clients(queue_token, **headers) -> (fast, whole): two clients of `user` with one API
    token; the second's requests go down the whole stack (its middleware loaded without the
    fast path). Both are remembered by this process, as on a busy worker."""
    from accounts import authentication

    def make(queue_token: str | None, **headers) -> tuple[APIClient, APIClient]:
        fast = unremembered_client(user, queue_token)
        key = fast._credentials["HTTP_AUTHORIZATION"].split()[1]
        fast.credentials(**fast._credentials, **headers)
        whole = APIClient()
        whole.credentials(**fast._credentials)
        full_stack = settings.MIDDLEWARE
        settings.MIDDLEWARE = [name for name in full_stack if name != FAST]
        whole.handler.load_middleware()
        settings.MIDDLEWARE = full_stack
        authentication.token_user(key)
        return fast, whole

    return make


@pytest.fixture
def alike(clients):
    """alike(queue_token, path, times_differ=False): GET `path` with `queue_token` through the
    fast path, then down the whole stack; asserts the two answers alike (_same_answer) and
    returns the fast one's JSON."""

    def get(queue_token: str, path: str, *, times_differ: bool = False):
        fast, whole = clients(queue_token)
        response = fast.get(path)
        _same_answer(response, whole.get(path), times_differ=times_differ)
        return response.json()

    return get


def _answer(response) -> tuple[int, list, bytes]:
    """Status, headers in order, body."""
    return response.status_code, list(response.items()), response.content


def _same_answer(fast, whole, *, times_differ: bool = False) -> None:
    """Status, headers and body alike; with `times_differ`, the body's expires_at (a waiting
    place's moves with every call) may differ, in the same format, and so its length (a time
    on a whole second is written without a fraction)."""
    (fast_status, fast_headers, fast_body), (status, headers, body) = _answer(fast), _answer(whole)
    if times_differ:
        stamp = re.compile(rb'"expires_at":"[0-9T:.-]+Z"')
        assert stamp.search(fast_body) and stamp.search(body)
        fast_body, body = stamp.sub(b"", fast_body), stamp.sub(b"", body)
        fast_headers, headers = _without_length(fast), _without_length(whole)
    assert (fast_status, fast_headers) == (status, headers)
    assert fast_body == body


def _without_length(response) -> list:
    headers = list(response.items())
    assert ("Content-Length", str(len(response.content))) in headers
    return [(name, value) for name, value in headers if name != "Content-Length"]


@pytest.fixture
def schedule():
    return schedule_with_seats(3)


def test_polls_answer_as_the_whole_stack(user, other_user, alike, drf_dispatches):
    services.queue_token_issue(user_id=other_user.pk)
    waiting = services.queue_token_issue(user_id=user.pk).token
    assert alike(waiting, STATUS, times_differ=True)["position"] == 2
    # Another user's queue token: the error as DRF's exception handler renders it.
    theirs = services.queue_token_issue(user_id=_user("carol").pk).token
    assert alike(theirs, STATUS)["code"] == "queue_token_invalid"
    # Admitted: the whole answer is stable.
    assert alike(admit(user), STATUS)["status"] == "active"
    assert drf_dispatches == [STATUS] * 3  # the whole stack's calls only


def test_issues_answer_as_the_whole_stack(user, clients, drf_dispatches):
    fast, whole = clients(None)
    created = fast.post(ISSUE)
    assert created.status_code == 201
    again, whole_again = fast.post(ISSUE), whole.post(ISSUE)
    assert again.status_code == 200
    assert again.json()["token"] == created.json()["token"]
    _same_answer(again, whole_again, times_differ=True)
    # A new place through the whole stack answers 201 with the same headers.
    services.queue_token_leave(token=created.json()["token"], user_id=user.pk)
    assert _without_length(whole.post(ISSUE)) == _without_length(created)
    assert drf_dispatches == [ISSUE, ISSUE]


def test_catalog_reads_answer_as_the_whole_stack(user, schedule, alike, drf_dispatches):
    dates = f"/api/concerts/{schedule.concert_id}/available-dates"
    seats = f"/api/concerts/{schedule.concert_id}/schedules/{schedule.id}/available-seats"
    admitted = admit(user)
    for path in (dates, seats):
        # A list, not an error; the whole stack reads the body the fast read cached.
        listed = alike(admitted, path)
        assert isinstance(listed, list) and listed
    # Refused by the gate: a waiting user, and a token that is nobody's.
    services.queue_token_leave(token=admitted, user_id=user.pk)
    services.queue_token_issue(user_id=_user("carol").pk)
    waiting = services.queue_token_issue(user_id=user.pk).token
    assert alike(waiting, seats)["code"] == "queue_not_admitted"
    assert alike("A" * 32, dates)["code"] == "queue_token_invalid"
    assert drf_dispatches.count(dates) == 2 and drf_dispatches.count(seats) == 2


def _post(client, path: str, body, **headers):
    """POST `body` as JSON, sent as a plain client sends it (Content-Type: application/json)."""
    return client.post(path, json.dumps(body), content_type="application/json", **headers)


def _alike_but_ids(fast, whole) -> dict:
    """Two successful writes (each its own seat or reservation): the same status and headers,
    the same fields, each body as the API's renderer writes it; returns the fast one's JSON."""
    assert fast.status_code == whole.status_code, (fast.content, whole.content)
    assert _without_length(fast) == _without_length(whole)
    assert fast.json().keys() == whole.json().keys()
    for response in (fast, whole):
        assert response.content == fastpath.render(response.json())
    return fast.json()


def test_holds_answer_as_the_whole_stack(
    user, other_user, clients, drf_dispatches, django_capture_on_commit_callbacks
):
    schedule = schedule_with_seats(5)
    seats = list(schedule.seats.order_by("number").values_list("id", flat=True))
    listed = f"/api/concerts/{schedule.concert_id}/schedules/{schedule.id}/available-seats"
    fast, whole = clients(admit(user))
    assert len(fast.get(listed).json()) == 5  # now in the catalog cache
    with django_capture_on_commit_callbacks(execute=True):
        fast_held = _post(fast, HOLD, {"seat_id": seats[0]})
    # After commit the cached list was dropped: no answer shows the seat free.
    assert [seat["seat_id"] for seat in fast.get(listed).json()] == seats[1:]
    held = _alike_but_ids(fast_held, _post(whole, HOLD, {"seat_id": seats[1]}))
    assert held["seat_id"] == seats[0] and held["status"] == "held"
    # Refusals, byte for byte: a seat taken, a seat that does not exist, the hold limit.
    for body in ({"seat_id": seats[0]}, {"seat_id": 999_999}):
        _same_answer(_post(fast, HOLD, body), _post(whole, HOLD, body))
    assert _post(fast, HOLD, {"seat_id": seats[2]}).status_code == 201
    assert _post(whole, HOLD, {"seat_id": seats[3]}).status_code == 201
    limit = _post(fast, HOLD, {"seat_id": seats[4]})
    _same_answer(limit, _post(whole, HOLD, {"seat_id": seats[4]}))
    assert limit.json()["code"] == "hold_limit_reached"
    # The gate's refusals: a waiting user, a queue token that is nobody's, none at all.
    services.queue_token_issue(user_id=other_user.pk)
    waiting = services.queue_token_issue(user_id=_user("carol").pk).token
    for token in (waiting, "A" * 32):
        fast, whole = clients(token)
        _same_answer(
            _post(fast, HOLD, {"seat_id": seats[4]}), _post(whole, HOLD, {"seat_id": seats[4]})
        )
    fast, whole = clients(None)
    _same_answer(
        _post(fast, HOLD, {"seat_id": seats[4]}), _post(whole, HOLD, {"seat_id": seats[4]})
    )
    # The whole stack's calls only; the gate refuses before DRF dispatches.
    assert drf_dispatches == [HOLD] * 5


def test_payments_answer_as_the_whole_stack(
    user, clients, drf_dispatches, django_capture_on_commit_callbacks
):
    from booking import services as booking_services
    from payments.tests.conftest import fund, queue_token_active

    fund(user, 1_000_000)
    seats = list(schedule_with_seats(3).seats.order_by("number").values_list("id", flat=True))
    ids = [
        booking_services.reservation_hold(user=user, seat_id=seat)["reservation_id"]
        for seat in seats
    ]
    token = admit(user)
    fast, whole = clients(token)
    paid = _alike_but_ids(
        _post(fast, PAY, {"reservation_id": ids[0]}), _post(whole, PAY, {"reservation_id": ids[1]})
    )
    assert paid["reservation_id"] == ids[0] and paid["status"] == "paid"
    # Paying twice, or a reservation nobody has: the refusal byte for byte.
    for body in ({"reservation_id": ids[0]}, {"reservation_id": 999_999}):
        _same_answer(_post(fast, PAY, body), _post(whole, PAY, body))
    # The last live hold paid down the fast path: after commit, the buyer's place in the queue
    # goes to the next in line, as down the whole stack.
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(fast, PAY, {"reservation_id": ids[2]}).status_code == 201
    assert not queue_token_active(user, token)
    assert drf_dispatches == [PAY] * 3


def test_replays_and_key_refusals_answer_as_the_whole_stack(user, clients):
    """Idempotent-Replayed comes where the whole stack puts it (before Allow)."""
    from booking import services as booking_services
    from payments.tests.conftest import fund

    fund(user, 1_000_000)
    for seat in schedule_with_seats(2).seats.values_list("id", flat=True):
        held = booking_services.reservation_hold(user=user, seat_id=seat)["reservation_id"]
    fast, whole = clients(admit(user))
    body = {"reservation_id": held}
    key = {"HTTP_IDEMPOTENCY_KEY": "pay-once"}
    first = _post(whole, PAY, body, **key)
    assert first.status_code == 201
    replayed = _post(fast, PAY, body, **key)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.content == first.content
    _same_answer(replayed, _post(whole, PAY, body, **key))
    # The same key with another body: 422, as DRF's exception handler renders it.
    _same_answer(
        _post(fast, PAY, {"reservation_id": 1}, **key),
        _post(whole, PAY, {"reservation_id": 1}, **key),
    )
    bad = {"HTTP_IDEMPOTENCY_KEY": "é"}
    refused = _post(fast, PAY, body, **bad)
    _same_answer(refused, _post(whole, PAY, body, **bad))
    assert refused.json()["code"] == "invalid_idempotency_key"


def test_a_failing_write_answers_the_whole_stacks_500(user, clients, monkeypatch):
    from django.db import OperationalError

    from booking import services as booking_services

    def outage(**kwargs):
        raise OperationalError("the database went away")

    seat = schedule_with_seats(1).seats.get()
    fast, whole = clients(admit(user))
    fast.raise_request_exception = whole.raise_request_exception = False
    monkeypatch.setattr(booking_services, "reservation_hold", outage)
    failed = _post(fast, HOLD, {"seat_id": seat.id})
    _same_answer(failed, _post(whole, HOLD, {"seat_id": seat.id}))
    assert failed.status_code == 500 and failed.json()["code"] == "server_error"


def test_a_gate_refusal_comes_before_the_bodys_validation(user, other_user, clients):
    services.queue_token_issue(user_id=other_user.pk)
    waiting = services.queue_token_issue(user_id=user.pk).token
    fast, whole = clients(waiting)
    for body in (b'{"seat_id": 5}', b'{"seat_id": "5"}', b"{"):
        refused = fast.post(HOLD, body, content_type="application/json")
        _same_answer(refused, whole.post(HOLD, body, content_type="application/json"))
        assert refused.json()["code"] == "queue_not_admitted"


def test_writes_the_fast_path_leaves_to_the_whole_stack(
    user, clients, drf_dispatches, settings, monkeypatch
):
    """A length that is not ASCII digits, a body above Django's own limit, request
    transactions: the whole stack answers."""
    from django.db import connection

    seats = list(schedule_with_seats(3).seats.values_list("id", flat=True))
    fast, whole = clients(admit(user))
    odd = {"CONTENT_LENGTH": "\xb9"}  # "¹": a digit to str.isdigit, no length to Django
    _same_answer(
        _post(fast, HOLD, {"seat_id": seats[0]}, **odd),
        _post(whole, HOLD, {"seat_id": seats[0]}, **odd),
    )
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    _same_answer(
        _post(fast, HOLD, {"seat_id": seats[0]}), _post(whole, HOLD, {"seat_id": seats[0]})
    )
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    assert _post(fast, HOLD, {"seat_id": seats[1]}).status_code == 201
    monkeypatch.undo()
    assert _post(fast, HOLD, {"seat_id": seats[2]}).status_code == 201
    assert len(drf_dispatches) == 5  # all but the last


def test_a_write_from_a_caller_this_process_does_not_remember(
    user, unremembered_client, drf_dispatches
):
    """The API token is looked up in the gate's own round trip, then the write runs for the
    user it names."""
    seat = schedule_with_seats(1).seats.get()
    client = unremembered_client(user, admit(user))
    held = _post(client, HOLD, {"seat_id": seat.id})
    assert held.status_code == 201 and held.json()["seat_id"] == seat.id
    stranger = unremembered_client(_user("dave"), "A" * 32)
    stranger.credentials(HTTP_AUTHORIZATION="Token " + "f" * 40, HTTP_QUEUE_TOKEN="A" * 32)
    assert _post(stranger, HOLD, {"seat_id": seat.id}).json()["code"] == "authentication_failed"
    assert drf_dispatches == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"seat_id": "999999"}',
        b'{"seat_id": true}',
        b'{"seat_id": 999999.0}',
        b'{"seat_id": 0}',
        b'{"seat_id": 9223372036854775808}',
        b'{"seat_id": 999999, "seat": 1}',
        b"[999999]",
        b"{}",
        b"null",
        b'{"seat_id": NaN}',
        b'{"seat_id": 999999',
        b"\xff",
        b'{"seat_id": 999999}' + b" " * fastpath.MAX_PLAIN_BODY,
    ],
)
def test_bodies_only_drf_reads_go_down_the_whole_stack(user, clients, drf_dispatches, body):
    """Anything but a small JSON object of one valid id is DRF's to parse and validate; both
    paths give its answer (400, or 404 for the long body's unknown seat)."""
    fast, whole = clients(admit(user))
    answer = fast.post(HOLD, body, content_type="application/json")
    assert answer.status_code in (400, 404)
    _same_answer(answer, whole.post(HOLD, body, content_type="application/json"))
    assert drf_dispatches == [HOLD, HOLD]


def test_other_media_types_go_down_the_whole_stack(user, clients, drf_dispatches):
    seats = list(schedule_with_seats(2).seats.values_list("id", flat=True))
    fast, _ = clients(admit(user))
    body = json.dumps({"seat_id": seats[0]})
    held = fast.post(HOLD, body, content_type="application/json; charset=utf-8")
    assert held.status_code == 201 and drf_dispatches == [HOLD]
    refused = fast.post(HOLD, {"seat_id": seats[1]})  # a form, not JSON
    assert refused.status_code == 415 and drf_dispatches == [HOLD, HOLD]


def test_a_queue_away_answers_as_the_whole_stack(user, alike, queue_redis_at):
    token = services.queue_token_issue(user_id=user.pk).token
    queue_redis_at("redis://127.0.0.1:1/0")
    assert alike(token, STATUS)["code"] == "queue_unavailable"


def test_calls_it_cannot_answer_byte_for_byte_go_down_the_whole_stack(
    user, clients, drf_dispatches
):
    token = admit(user)
    fast, _ = clients(token)
    for call in (
        lambda: fast.get(STATUS, HTTP_ACCEPT="application/json; indent=2"),
        lambda: fast.get(STATUS, {"format": "json"}),
        lambda: fast.head(STATUS),
        lambda: fast.post(ISSUE, {}, format="json"),
    ):
        drf_dispatches.clear()
        response = call()
        assert response.status_code in (200, 201) and drf_dispatches, response.content
    assert b'{\n  "token"' in fast.get(STATUS, HTTP_ACCEPT="application/json; indent=2").content
    drf_dispatches.clear()
    # Cookies: a browser's session. The API token still decides who the caller is.
    fast.cookies["sessionid"] = "anything"
    assert fast.get(STATUS).json()["token"] == token and drf_dispatches == [STATUS]


def test_callers_it_cannot_authenticate_go_down_the_whole_stack(user, clients, drf_dispatches):
    """An unknown API token, a call without a queue token, a Host Django refuses, a user forced
    onto the request by the test client: the whole stack answers, and nothing is issued."""
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token nonsense")
    assert stranger.post(ISSUE).status_code == 401
    fast, _ = clients(None)
    assert fast.get(STATUS).json()["code"] == "queue_token_required"
    assert fast.get(STATUS, HTTP_HOST="evil.example").status_code == 400
    forced = APIClient()
    forced.force_authenticate(user)
    assert forced.post(ISSUE).status_code == 201
    assert drf_dispatches == [ISSUE, STATUS, ISSUE]


def test_an_empty_accept_is_refused_as_the_whole_stack_refuses_it(user, clients):
    """No Accept header means anything; an empty one matches no renderer: 406, no place."""
    fast, whole = clients(None)
    _same_answer(fast.post(ISSUE, HTTP_ACCEPT=""), whole.post(ISSUE, HTTP_ACCEPT=""))
    assert fast.post(ISSUE, HTTP_ACCEPT="").status_code == 406
    assert _redis().hget(queue_keys().users, user.pk) is None


def test_the_gate_refuses_first_when_a_read_fails(user, other_user, alike, monkeypatch):
    """With the catalog cache away the read goes to the database without the gate's check:
    a caller the gate refuses learns nothing of which concerts and dates exist."""
    from booking import cache

    def cache_away():
        raise redis.ConnectionError("the cache is away")

    services.queue_token_issue(user_id=other_user.pk)
    waiting = services.queue_token_issue(user_id=user.pk).token
    monkeypatch.setattr(cache, "_client", cache_away)
    assert alike(waiting, "/api/concerts/999999/available-dates")["code"] == "queue_not_admitted"
    missing = f"/api/concerts/{ScheduleFactory().concert_id}/schedules/999999/available-seats"
    assert alike("A" * 32, missing)["code"] == "queue_token_invalid"
    # Admitted, the read's own refusal is the answer, as DRF's exception handler renders it.
    assert alike(admit(user), missing)["code"] == "schedule_not_found"


def test_with_the_queue_unreachable_a_call_is_refused_before_its_key_is_checked(queue_redis_at):
    """The one answer that differs: the key's lookup rides in the queue's round trip, so with
    Redis not answering a plain call gets the 503 at once, even with a key that authenticates
    nobody (the whole stack, which looks the key up first, answers 401 after its timeout)."""
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token " + "f" * 40)
    queue_redis_at("redis://127.0.0.1:1/0", cache_too=True)
    assert stranger.post(ISSUE).json()["code"] == "queue_unavailable"


def test_disallowed_user_agents_leave_every_call_to_the_whole_stack(user, clients, settings):
    fast, _ = clients(admit(user))
    settings.DISALLOWED_USER_AGENTS = [re.compile(r"scraper")]
    assert fast.get(STATUS, HTTP_USER_AGENT="scraper/1.0").status_code == 403
    assert fast.get(STATUS, HTTP_USER_AGENT="browser/1.0").status_code == 200


def test_a_test_clients_forced_token_is_left_to_drf(user, clients, drf_dispatches):
    from rest_framework.authtoken.models import Token

    fast, _ = clients(None)
    fast.force_authenticate(token=Token.objects.get(user=user))  # no user: DRF refuses
    assert fast.post(ISSUE).status_code == 403 and drf_dispatches == [ISSUE]
    assert _redis().hget(queue_keys().users, user.pk) is None


def test_a_view_keeps_its_fast_handler_only_under_the_policy_it_implements(monkeypatch):
    for view, method in (
        (QueueTokenIssueApi, "POST"),
        (QueueTokenCurrentApi, "GET"),
        (AvailableDatesApi, "GET"),
        (AvailableSeatsApi, "GET"),
    ):
        assert fastpath.fast_handler(view, method) is not None
    assert fastpath.fast_handler(ReservationCreateApi, "post_json") is not None
    assert fastpath.fast_handler(PaymentCreateApi, "post_json") is not None
    assert fastpath.fast_handler(QueueTokenCurrentApi, "DELETE") is None
    # A hold or a payment always carries a body: none is DRF's to refuse.
    assert fastpath.fast_handler(ReservationCreateApi, "POST") is None
    assert fastpath.fast_handler(QueueTokenIssueApi, "post_json") is None
    # A route giving the view arguments of its own, or a subclass deciding in a method.
    route = QueueTokenCurrentApi.as_view(permission_classes=[IsAdminUser])
    assert fastpath._view_handler(route, "GET") is None
    assert fastpath._view_handler(QueueTokenCurrentApi.as_view(), "GET") is not None

    class Stricter(QueueTokenCurrentApi):
        def get_permissions(self):
            return [IsAdminUser()]

    class FormsToo(ReservationCreateApi):
        parser_classes = [*ReservationCreateApi.parser_classes, FormParser]

    assert fastpath.fast_handler(Stricter, "GET") is None
    assert fastpath.fast_handler(FormsToo, "post_json") is None
    monkeypatch.setattr(QueueTokenCurrentApi, "throttle_classes", [AnonRateThrottle])
    fastpath.fast_handler.cache_clear()
    try:
        assert fastpath.fast_handler(QueueTokenCurrentApi, "GET") is None
    finally:
        monkeypatch.undo()
        fastpath.fast_handler.cache_clear()


def test_the_fast_body_is_what_the_api_renderer_writes(user, clients):
    fast, _ = clients(admit(user))
    response = fast.get(STATUS)
    assert response.content == fastpath.render(json.loads(response.content))


def _user(name: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=name, password=f"pw-{name}-123")


def _redis() -> redis.Redis:
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)
