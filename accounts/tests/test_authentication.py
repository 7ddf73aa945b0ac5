"""The token lookup behind API authentication loads what the ORM would, in one query."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from accounts.authentication import _token_with_user, token_user

pytestmark = pytest.mark.django_db


def test_token_lookup_matches_the_orm(user, django_assert_num_queries):
    user.email, user.first_name, user.is_staff = "alice@example.com", "Alice", True
    user.save()
    token = Token.objects.create(user=user)
    expected = Token.objects.select_related("user").get(key=token.key)

    with django_assert_num_queries(1):
        found = _token_with_user(token.key)
        loaded = found.user  # attached, not fetched again

    assert (found.key, found.user_id, found.created) == (token.key, user.pk, expected.created)
    for field in get_user_model()._meta.concrete_fields:
        name = field.attname
        assert getattr(loaded, name) == getattr(expected.user, name), name
    assert not loaded._state.adding and loaded._state.db == "default"
    assert loaded.check_password("pw-alice-123")


def test_unknown_key_finds_nothing(user):
    Token.objects.create(user=user)
    assert _token_with_user("0" * 40) is None
    assert token_user("0" * 40) is None
