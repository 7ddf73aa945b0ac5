"""The schema's shared pieces: it builds cleanly, and what no view answers is still JSON."""

import pytest
from django.test import Client


@pytest.mark.django_db
def test_an_unsafe_call_to_no_view_is_a_json_404_even_with_a_session(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.delete("/api/reservations/not-an-id")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "No such endpoint."}
