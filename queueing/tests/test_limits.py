"""Queue polls too fast, against real Redis: a poll storm is refused for the one who storms it
alone."""

import time

import pytest
from rest_framework.test import APIClient

from concertbooking.redis import queue_redis
from queueing import services
from queueing.keys import room_keys
from queueing.selectors import site_room

pytestmark = pytest.mark.django_db


def _poller(user, token: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_QUEUE_TOKEN=token)
    return client


def test_a_poll_storm_is_refused_while_another_users_polls_answer(
    rate_limits, settings, user, other_user
):
    settings.RATE_LIMIT_QUEUE_POLL_BURST = 3
    storm = _poller(user, services.queue_token_issue(user_id=user.pk).token)
    calm = _poller(other_user, services.queue_token_issue(user_id=other_user.pk).token)
    poll_entry = room_keys(site_room().name).poll(user.pk)

    answers = []
    for _ in range(30):
        answers.append(storm.get("/api/queue/tokens/current"))
    codes = [answer.status_code for answer in answers]
    # The burst allowance passes (one or two more as time moves on), the rest are refused.
    assert codes[:4] == [200] * 4
    assert codes.count(429) >= 20
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 4

    # A refused poll changes nothing stored: the place's entry stays as the last answer left it.
    seen = queue_redis().hget(poll_entry, user.pk)
    assert storm.get("/api/queue/tokens/current").status_code == 429
    assert queue_redis().hget(poll_entry, user.pk) == seen

    assert calm.get("/api/queue/tokens/current").status_code == 200
    # The one who stormed keeps the place and is answered again once the allowance is back.
    time.sleep(int(refused["Retry-After"]))
    assert storm.get("/api/queue/tokens/current").status_code == 200


def test_without_rate_limits_polls_are_not_counted(settings, user):
    assert not settings.RATE_LIMITS_ENABLED
    poller = _poller(user, services.queue_token_issue(user_id=user.pk).token)
    assert {poller.get("/api/queue/tokens/current").status_code for _ in range(20)} == {200}


def test_the_waiting_room_page_says_to_wait_after_a_storm(rate_limits, settings, user):
    from queueing.testing import page_client

    settings.RATE_LIMIT_QUEUE_POLL_BURST = 0
    client = page_client(user, admitted=False)
    client.post("/queue/join", {"next": "/"})
    pages = [client.get("/queue/") for _ in range(5)]
    refused = [page for page in pages if page.status_code == 429]
    assert refused
    assert "faster than asked" in refused[0].content.decode()
