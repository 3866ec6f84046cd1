from django.apps import AppConfig


class GenerationConfig(AppConfig):
    """Sampling from generator models: solutions, candidate steps, Monte Carlo rollouts."""

    name = "generation"
    verbose_name = "Generation and auto-labels"

    def ready(self):
        from annotate.services.candidates import register_candidate_source

        from .services import request_candidates

        register_candidate_source(request_candidates)
