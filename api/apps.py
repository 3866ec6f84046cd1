from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self):
        from training.snapshots import register_snapshot_source

        from . import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from .runs import list_snapshots, resolve_snapshot

        # Training reads snapshots by id through the API layer, which may import exports.
        register_snapshot_source(resolve=resolve_snapshot, listing=list_snapshots)
