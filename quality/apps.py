from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "quality"
    verbose_name = "Quality control"

    def ready(self):
        from annotate.selectors.verdicts import register_reader
        from annotate.services.blind import register_first, register_hidden, register_submitted
        from annotate.services.queue_gates import register_gate

        from .certification import hidden_sources, on_submitted, sampled_solutions
        from .labels import node_verdict_rows, node_verdicts
        from .selectors import has_passed_screening

        register_gate(has_passed_screening)
        register_first(sampled_solutions)
        register_hidden(hidden_sources)
        register_submitted(on_submitted)
        register_reader(node_verdicts, node_verdict_rows)
