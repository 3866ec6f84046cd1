from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The admin pages of a project: settings, members, imports, quality, review, dashboard."""

    name = "console"
    verbose_name = "Admin console"
