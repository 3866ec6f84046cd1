from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The offline demo: arithmetic problems, a tiny generator, PRM bases, seed data."""

    name = "demo"
    verbose_name = "Demo domain"
