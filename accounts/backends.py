"""Django's model backend, a signed-in session's user read through the caller cache.

The class keeps the path sessions were signed in under, so a deploy signs nobody out.
"""

from django.contrib.auth.backends import ModelBackend

from accounts.selectors import session_user


class RememberingModelBackend(ModelBackend):
    def get_user(self, user_id):
        load = super().get_user  # None for a user gone or inactive: nothing is kept
        return session_user(user_id, lambda: load(user_id))
