"""The API key a request carries, read as DRF's token authentication reads it."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

from accounts.authentication import request_api_key, token_user_kept

pytestmark = pytest.mark.django_db

BALANCE = "/api/users/me/balance"


@pytest.mark.parametrize(
    ("header", "key"),
    [
        (None, None),
        ("Bearer abc", None),
        ("Tokenabc", None),
        ("Token abc", "abc"),
        ("token  abc ", "abc"),  # DRF splits on runs of blanks, keyword in any case
        ("Token", ""),
        ("Token abc def", ""),
        ("Token \xff", ""),  # not UTF-8 once encoded as HTTP headers are
    ],
)
def test_the_key_is_the_one_drf_reads(user, header, key):
    headers = {} if header is None else {"HTTP_AUTHORIZATION": header}
    assert request_api_key(APIRequestFactory().get(BALANCE, **headers)) == key
    if key == "":  # what DRF refuses outright
        client = APIClient()
        client.credentials(**headers)
        assert client.get(BALANCE).json()["code"] == "authentication_failed"


def test_no_key_when_a_test_client_forces_the_user(user):
    request = APIRequestFactory().get(BALANCE, HTTP_AUTHORIZATION="Token abc")
    force_authenticate(request, user=user)
    assert request_api_key(request) is None


def test_the_lookup_is_kept_for_its_key_only(user, other_user, django_assert_num_queries):
    mine, theirs = Token.objects.create(user=user), Token.objects.create(user=other_user)
    request = APIRequestFactory().get(BALANCE)
    with django_assert_num_queries(1):
        assert token_user_kept(request, mine.key)[0].pk == user.pk
        assert token_user_kept(request, mine.key)[1].key == mine.key  # kept: no lookup
    assert token_user_kept(request, theirs.key)[0].pk == other_user.pk
    assert token_user_kept(request, "0" * 40) is None
