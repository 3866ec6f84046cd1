from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "PRM-guided search"

    def ready(self):
        from annotate.services.queue_strategies import register_strategy

        from .queue import search_most_wrong_order

        register_strategy("search_most_wrong")(search_most_wrong_order)
