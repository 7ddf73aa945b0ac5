"""The schema's shared pieces: it builds cleanly, and what no view answers is still JSON."""

import pytest
from django.core.management import call_command
from django.test import Client


def test_schema_builds_valid_and_without_warnings(tmp_path):
    # A warning is drf-spectacular guessing (an unknown type, a name clash): the guess may be wrong.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))


@pytest.mark.django_db
def test_an_unsafe_call_to_no_view_is_a_json_404_even_with_a_session(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.delete("/api/reservations/not-an-id")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "No such endpoint."}
