from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "PRM training"

    def ready(self):
        from annotate.services.queue_strategies import register_strategy

        from .strategies import convincing_wrong_order

        register_strategy("convincing_wrong")(convincing_wrong_order)

        from workers.runs import on_settle

        from .settle import settle_training

        on_settle("train_prm")(settle_training)

        from . import checks  # noqa: F401 - registers the scoring backend's settings check
