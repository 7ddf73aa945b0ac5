"""The API key a request carries, read by DRF's token authentication for the gate and views."""

import pytest
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient, APIRequestFactory

from accounts.authentication import token_user_kept

pytestmark = pytest.mark.django_db

BALANCE = "/api/users/me/balance"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer abc",
        "Tokenabc",
        "Token abc",
        "token  abc ",  # DRF splits on runs of blanks, keyword in any case
        "Token",
        "Token abc def",
        "Token \xff",  # not UTF-8 once encoded as HTTP headers are
    ],
)
def test_the_queue_gate_reads_the_header_as_drfs_authentication_does(header):
    """The gate authenticates with DRF's own token authentication, before the view: a gated
    call is refused exactly as an ungated one is."""
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    gated = client.get("/api/concerts/1/available-dates", HTTP_QUEUE_TOKEN="A" * 32)
    ungated = client.get(BALANCE)
    assert gated.status_code == ungated.status_code == 401
    assert gated.json() == ungated.json()
    assert gated["WWW-Authenticate"] == ungated["WWW-Authenticate"] == "Token"


def test_the_lookup_is_kept_for_its_key_only(user, other_user, django_assert_num_queries):
    (_, mine), (_, theirs) = AuthToken.objects.create(user), AuthToken.objects.create(other_user)
    request = APIRequestFactory().get(BALANCE)
    with django_assert_num_queries(1):
        assert token_user_kept(request, mine)[0].pk == user.pk
        assert token_user_kept(request, mine)[1].digest == hash_token(mine)  # kept: no lookup
    assert token_user_kept(request, theirs)[0].pk == other_user.pk
    assert token_user_kept(request, "0" * 64) is None
