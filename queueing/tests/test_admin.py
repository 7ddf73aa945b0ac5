"""The queue settings in the operator console: one row, saved through the service."""

import pytest

from queueing.models import QueueSettings
from queueing.selectors import queue_config

pytestmark = pytest.mark.django_db


def test_operator_saves_settings_and_they_apply_at_once(admin_client):
    assert queue_config().capacity == 100  # settings.QUEUE_CAPACITY
    assert admin_client.get("/admin/queueing/queuesettings/").status_code == 200
    response = admin_client.post(
        "/admin/queueing/queuesettings/add/",
        {
            "capacity": 40,
            "admit_per_tick": 5,
            "session_seconds": 300,
            "abandon_seconds": 60,
            "paused": "on",
        },
    )
    assert response.status_code == 302, response.content
    assert QueueSettings.objects.get().capacity == 40
    assert queue_config().paused is True
    # One row only: no second "add".
    assert admin_client.get("/admin/queueing/queuesettings/add/").status_code == 403
    assert admin_client.get("/admin/queueing/queuesettings/1/change/").status_code == 200
