"""Test helpers other apps use to get past the queue gate through the real queue services."""

from dataclasses import replace

from queueing import services, store
from queueing.selectors import room_for_concert, site_room


def admit(user, concert_id: int | None = None) -> str:
    """Give `user` an active place in the room that guards `concert_id` (the site-wide room by
    default) and return its token.

    Takes a place like anyone else, then runs one real promotion tick with room for everyone up
    to and including this user (whatever the operator settings say, paused or not).
    """
    ticket = services.queue_token_issue(user_id=user.pk, concert_id=concert_id)
    if ticket.status != "active":
        config = site_room() if concert_id is None else room_for_concert(concert_id)
        figures = store.figures(room=config.name)
        services.queue_promote(
            config=replace(
                config,
                capacity=figures.active + ticket.position,
                admit_per_tick=ticket.position,
                mode="fifo",
                next_mode="",
            )
        )
    return ticket.token


def page_client(user, *, admitted: bool = True, concert_id: int | None = None):
    """A signed-in browser session for `user`; an admitted one carries an active queue token in
    the session, as after the waiting room."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    if admitted:
        session = client.session
        session_token_set(session, admit(user, concert_id))
        session.save()
    return client


def session_token_set(session, token: str) -> None:
    """Put `token` in a page session as the waiting room does (any string: tests forge some)."""
    from django.conf import settings

    from queueing.web import ROOM_KEY, SESSION_KEY, token_room

    room = token_room(token) if "." in token else settings.QUEUE_ROOM
    session[SESSION_KEY] = {room: token}
    session[ROOM_KEY] = room
