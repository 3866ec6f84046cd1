"""Settings the scoring backends need, checked when any manage.py command or server starts."""

from django.conf import settings
from django.core import checks


@checks.register()
def scoring_backend(app_configs, **kwargs):
    from .backends import BACKENDS

    name = settings.STEPWISE_SCORING_BACKEND
    if name not in BACKENDS:
        return [checks.Error(f"STEPWISE_SCORING_BACKEND is {name!r}; use one of {', '.join(BACKENDS)}.",
                             id="stepwise.E101")]
    if name == "vllm" and not settings.STEPWISE_SCORING_URLS:
        return [checks.Error("STEPWISE_SCORING_BACKEND=vllm needs STEPWISE_SCORING_URLS: the base "
                             "URLs of the vLLM pooling servers that serve the PRMs.",
                             id="stepwise.E102")]
    return []
