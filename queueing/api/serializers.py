"""Queue API shapes."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from concertbooking.api import StrictSerializer
from queueing.web import HEADER

# The header a queue call or a gated operation reads the caller's queue token from (pages keep
# the token in the session instead).
QUEUE_TOKEN_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="Your queue token, from POST /api/queue/tokens; gated operations need it active.",
)


class QueueTokenIssueInput(StrictSerializer):
    """No fields: the place belongs to the signed-in user. Unknown fields are refused."""


class QueueTicketOutput(serializers.Serializer):
    token = serializers.CharField()
    status = serializers.ChoiceField(choices=["waiting", "active"])
    position = serializers.IntegerField(
        allow_null=True, help_text="1 = next to be admitted; null once active."
    )
    estimated_wait_seconds = serializers.IntegerField()
    poll_after_seconds = serializers.IntegerField(
        help_text="Poll again after this long; a waiting token not polled in time loses its place."
    )
    expires_at = serializers.DateTimeField(
        help_text="Active: end of the booking window. Waiting: when the place is lost unless "
        "polled before."
    )
