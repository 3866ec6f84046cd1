from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "quality"
    verbose_name = "Quality control"

    def ready(self):
        from annotate.services.queue_gates import register_gate

        from .selectors import has_passed_screening

        register_gate(has_passed_screening)
