"""A Run kind that only the suite's vLLM worker knows (it imports this module, fixture
``vllm_worker``): the raw samples of the project's generation backend, so a test sees what the
engine returned inside a worker, not only what the step tree kept of it."""

from generation.backends import backend_for
from generation.config import GeneratorSettings
from workers.runs import RunContext, run_task


@run_task("test_backend_samples", queue="gpu", soft_time_limit=600, max_retries=0)
def backend_samples(ctx: RunContext, statements: list[str], calls: list[dict]) -> dict:
    """Each call (``n``, ``seed``, ``stop``, ``max_new_tokens``) samples every statement's
    prompt; returns the backend's name and, per call, the texts per prompt."""
    settings = GeneratorSettings.from_dict(ctx.run.project.generator, project_id=ctx.run.project_id)
    backend = backend_for(settings)
    prompts = [backend.prompt(s) for s in statements]
    texts = []
    for call in calls:
        rows = backend.complete(prompts, n=call["n"], max_new_tokens=call["max_new_tokens"],
                                temperature=settings.temperature, top_p=settings.top_p,
                                stop=call.get("stop"), seed=call["seed"])
        texts.append([[s.text for s in row] for row in rows])
    return {"backend": backend.name, "texts": texts}
