from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "PRM training"

    def ready(self):
        # Register the "convincing_wrong" queue strategy when helper 2's registry exists.
        try:
            from . import strategies  # noqa: F401
        except ImportError:  # the queue registry has not landed: nothing to register into
            pass
