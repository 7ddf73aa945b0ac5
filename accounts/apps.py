from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self):
        # Here, not on import of the cache's readers: a change made by a shell or a Celery
        # worker, which never authenticates anyone, must drop the entries too.
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save
        from knox.models import AuthToken

        from accounts.selectors import callers_forget
        from accounts.services import user_change_revoke

        post_save.connect(user_change_revoke, sender=get_user_model())
        post_save.connect(callers_forget, sender=get_user_model())
        post_delete.connect(callers_forget, sender=get_user_model())
        # A token edited in the console (its expiry, its user) drops its entry as a deleted one.
        post_save.connect(callers_forget, sender=AuthToken)
        post_delete.connect(callers_forget, sender=AuthToken)
