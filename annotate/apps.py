from django.apps import AppConfig


class AnnotateConfig(AppConfig):
    name = "annotate"
    verbose_name = "Labeling"

    def ready(self):
        from django.conf import settings
        from django.db.models.signals import pre_save

        pre_save.connect(_check_username, sender=settings.AUTH_USER_MODEL,
                         dispatch_uid="annotate.check_username")


def _check_username(sender, instance, update_fields=None, **kwargs):
    """Every way of saving a user (create_user, createsuperuser, admin, the members form)
    stores a normalised, unique-in-any-case, non-look-alike username."""
    if update_fields is not None and "username" not in update_fields:
        return  # e.g. last_login at each sign-in: the name is not being written
    from annotate.services.accounts import check_new_username

    check_new_username(instance)
