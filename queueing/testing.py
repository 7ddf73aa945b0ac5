"""Test helpers other apps use to get past the queue gate through the real queue services."""

from dataclasses import replace

from queueing import services, store
from queueing.selectors import queue_config


def admit(user) -> str:
    """Give `user` an active queue token and return it.

    Takes a place like anyone else, then runs one real promotion tick with room for everyone up
    to and including this user (whatever the operator settings say, paused or not).
    """
    ticket = services.queue_token_issue(user_id=user.pk)
    if ticket.status != "active":
        room = store.stats()
        services.queue_promote(
            config=replace(
                queue_config(),
                capacity=room.active + ticket.position,
                admit_per_tick=ticket.position,
                paused=False,
            )
        )
    return ticket.token


def page_client(user, *, admitted: bool = True):
    """A signed-in browser session for `user`; an admitted one carries an active queue token in
    the session, as after the waiting room."""
    from django.test import Client

    from queueing.web import SESSION_KEY

    client = Client()
    client.force_login(user)
    if admitted:
        session = client.session
        session[SESSION_KEY] = admit(user)
        session.save()
    return client
