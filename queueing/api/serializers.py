"""Queue API shapes."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from concertbooking.api import ID_MAX, StrictIntegerField, StrictSerializer
from queueing.models import RoomMode
from queueing.web import HEADER

# The header a queue call or a gated operation reads the caller's queue token from (pages keep
# the token in the session instead).
QUEUE_TOKEN_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="Your queue token, from POST /api/queue/tokens; gated operations need it active "
    "and of the room that guards the concert.",
)


class QueueTokenIssueInput(StrictSerializer):
    """The place belongs to the signed-in user. Unknown fields are refused."""

    concert_id = StrictIntegerField(
        min_value=1,
        max_value=ID_MAX,
        required=False,
        help_text="Queue for this concert: its own room, or the site-wide room that guards it. "
        "Left out: the site-wide room.",
    )


class QueueTicketOutput(serializers.Serializer):
    token = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["scheduled", "waiting", "sold_out", "active"],
        help_text="scheduled: in the pre-queue, ordered by the draw at the sale's start; "
        "sold_out: every seat is sold or held (the place is kept in case seats come back).",
    )
    position = serializers.IntegerField(
        allow_null=True, help_text="1 = next to be admitted; null in the pre-queue and once active."
    )
    estimated_wait_seconds = serializers.IntegerField(
        allow_null=True, help_text="Null in the pre-queue and when sold out."
    )
    poll_after_seconds = serializers.IntegerField(
        help_text="Poll again after this long; a waiting token not polled in time loses its place."
    )
    expires_at = serializers.DateTimeField(
        help_text="Active: end of the booking window. Waiting: when the place is lost unless "
        "polled before."
    )
    concert_id = serializers.IntegerField(
        allow_null=True, help_text="The concert whose room this is; null: the site-wide room."
    )
    sale_starts_at = serializers.DateTimeField(allow_null=True)
    draw_id = serializers.CharField(
        allow_null=True,
        help_text="In the pre-queue: this place's name in the draw, to check it once the seed is "
        "published.",
    )
    chance_of_seat = serializers.FloatField(
        allow_null=True,
        help_text="Free seats over the people ahead and choosing (0 to 1); null when the room "
        "does not count seats.",
    )


class RoomOutput(serializers.Serializer):
    concert_id = serializers.IntegerField()
    own_room = serializers.BooleanField(
        help_text="False: the concert has no room of its own and the site-wide room guards it."
    )
    mode = serializers.ChoiceField(choices=RoomMode.values)
    phase = serializers.ChoiceField(
        choices=["not_open", "prequeue", "on_sale"],
        help_text="not_open: joining answers sale_not_open; prequeue: places are taken for the "
        "draw at sale_starts_at; on_sale: first come, first served behind the drawn pre-queue.",
    )
    sale_starts_at = serializers.DateTimeField(allow_null=True)
    prequeue_opens_at = serializers.DateTimeField(allow_null=True)
    seed_sha256 = serializers.CharField(
        allow_null=True, help_text="SHA-256 of the draw's seed, published when the pre-queue opens."
    )
    seed = serializers.CharField(
        allow_null=True, help_text="The draw's seed, published once the sale has started."
    )
    drawn = serializers.IntegerField(
        allow_null=True, help_text="How many pre-queue places the draw ordered."
    )


class DrawOutput(serializers.Serializer):
    offset = serializers.IntegerField()
    draw_ids = serializers.ListField(
        child=serializers.CharField(),
        help_text="Draw ids in the draw's order from `offset`: ascending by the first 13 hex "
        "digits of SHA-256(seed + ':' + draw_id).",
    )
