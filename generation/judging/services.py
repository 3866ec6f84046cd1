"""Judge Runs: ask a judge model about every step of a project's solutions and store its
verdicts and reasons as machine labels (``PreAnnotation`` of kind ``judge``).

The judge is the project's generator settings with the judge's own overrides (model,
backend, server), so it goes through the same backends, outbound policy and model rules.
Each solution is one conversation (``templates``); k samples are read (``parsing``) and
voted per step. A step no sample could be read for is stored unparsed (no rating, the raw
answers kept), never guessed. Labels are upserts keyed by step, source and solution, so a
retried Run rewrites the same rows: no duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.db import transaction

from generation.backends import backend_for
from generation.backends.base import request_seed
from generation.config import GeneratorSettings

from .parsing import parse, vote
from .templates import resolve

MAX_REASON = 4000
MAX_RAW = 2000  # characters of each raw answer kept with an unparsed step


@dataclass(frozen=True)
class JudgeSpec:
    source: str  # the label source's name: judge:<source>
    template: str | dict = "step_verdicts@1"  # a default's key, or a project's own template
    samples: int = 1
    temperature: float = 0.0
    max_new_tokens: int = 512

    @classmethod
    def from_dict(cls, data: dict) -> JudgeSpec:
        source = str(data.get("source") or "").strip()
        if not source or len(source) > 100 or "\x00" in source or ":" in source:
            raise ValueError("Name the judge's label source (up to 100 characters, no ':').")
        try:
            given = data.get("template") or cls.template
            chosen = resolve(given)
            spec = cls(source=source, template=given if isinstance(given, dict) else chosen.key,
                       samples=int(data.get("samples", 1)),
                       temperature=float(data.get("temperature", 0.0)),
                       max_new_tokens=int(data.get("max_new_tokens", 512)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Judge settings: {exc}") from None
        if not 1 <= spec.samples <= 16:
            raise ValueError("samples must be between 1 and 16.")
        if not 0 <= spec.temperature <= 2:
            raise ValueError("temperature must be between 0 and 2.")
        if spec.samples > 1 and spec.temperature == 0:
            raise ValueError("Several samples need a temperature above 0 (greedy answers repeat).")
        if not 1 <= spec.max_new_tokens <= 8192:
            raise ValueError("max_new_tokens must be between 1 and 8192.")
        return spec


JUDGE_GENERATOR_KEYS = ("model", "backend", "base_url", "served_model", "api_secret", "dtype",
                        "timeout", "retries", "concurrency", "batch_size")


def judge_settings(project_generator: dict | None, overrides: dict | None,
                   project_id: int | None = None) -> GeneratorSettings:
    """The project's generator settings with the judge's model and server."""
    unknown = set(overrides or {}) - set(JUDGE_GENERATOR_KEYS)
    if unknown:
        raise ValueError(f"Unknown judge generator settings: {', '.join(sorted(unknown))}.")
    return GeneratorSettings.from_dict({**(project_generator or {}), **(overrides or {})},
                                       project_id=project_id)


def check_judge_reach(settings: GeneratorSettings, overrides: dict) -> None:
    """The model and server a judge names are ones the project may use (the same rules as
    its generator's): refused now, with the message of a missing model, not in the worker."""
    from generation.modeldirs import generator_model
    from outbound.policy import OutboundRefused, check_url

    if "model" in overrides:
        generator_model(settings.model, settings.project_id)  # ModelDirRefused, a ValueError
    if settings.backend == "openai" and "base_url" in overrides:
        try:
            check_url(settings.base_url)
        except OutboundRefused as exc:
            raise ValueError(f"The judge's server is not allowed: {exc}") from None


def version_of(spec: JudgeSpec, settings: GeneratorSettings) -> dict:
    """What a label records of the judge that made it (the report's version column)."""
    chosen = resolve(spec.template)
    return {"model": settings.model_name, "backend": settings.backend,
            "prompt_version": chosen.key, "prompt_digest": chosen.digest,
            "samples": spec.samples, "temperature": spec.temperature,
            "max_new_tokens": spec.max_new_tokens}


def judge_solutions(solutions, settings: GeneratorSettings, spec: JudgeSpec, *, seed: int,
                    run=None, on_batch: Callable[[int, int], None] | None = None) -> dict:
    from annotate.models import PreAnnotation, StepNode
    from annotate.selectors.paths import solution_paths
    from annotate.services.imports.machine_labels import VALUE_OF

    backend = backend_for(settings)
    chosen = resolve(spec.template)
    version = version_of(spec, settings)
    stats = {"solutions": 0, "steps": 0, "verdicts": 0, "unparsed": 0, "generated_tokens": 0,
             "version": version}
    per_call = backend.prompts_per_call(spec.samples)
    for start in range(0, len(solutions), per_call):
        part = solutions[start:start + per_call]
        node_ids = solution_paths([s.pk for s in part])
        texts = dict(StepNode.objects.filter(id__in={n for p in node_ids.values() for n in p})
                     .values_list("id", "text"))
        paths = {sid: [(n, texts[n]) for n in path] for sid, path in node_ids.items()}
        conversations = [chosen.messages(s.problem.statement, [t for _, t in paths[s.pk]])
                         for s in part]
        answers = backend.chat(conversations, n=spec.samples, max_new_tokens=spec.max_new_tokens,
                               temperature=spec.temperature, seed=request_seed(seed, start))
        rows = []
        for solution, samples in zip(part, answers):
            path = paths[solution.pk]
            readings = [parse(chosen.style, a.text, len(path)) for a in samples]
            stats["generated_tokens"] += sum(a.tokens for a in samples)
            for position, (node_id, _) in enumerate(path):
                result = vote([reading[position] for reading in readings])
                provenance = {"version": version, "agreement": round(result.agreement, 4),
                              "readable": result.readable, "position": position}
                if result.rating is None:
                    provenance["unparsed"] = True
                    provenance["answers"] = [a.text[:MAX_RAW] for a in samples]
                    stats["unparsed"] += 1
                else:
                    stats["verdicts"] += 1
                rows.append(PreAnnotation(
                    node_id=node_id, kind=PreAnnotation.Kind.JUDGE, source=spec.source,
                    scope=solution.pk, rating=result.rating, value=VALUE_OF[result.rating],
                    reason=result.reason[:MAX_REASON], provenance=provenance, run=run))
            stats["steps"] += len(path)
        with transaction.atomic():
            PreAnnotation.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["node", "kind", "source", "scope"],
                update_fields=["value", "rating", "reason", "provenance", "run"])
        stats["solutions"] += len(part)
        if on_batch:
            on_batch(stats["solutions"], len(solutions))
    return stats


def start_judge(*, project, judge: dict, solution_ids=None, user=None):
    """Queue a ``judge`` Run; every setting is checked now, not in the worker."""
    from annotate.models import Solution
    from generation.selection import project_ids
    from workers.runs import start_run

    judge = dict(judge or {})
    overrides = judge.pop("generator", None) or {}
    if not isinstance(overrides, dict):
        raise ValueError("'generator' must be an object of generator settings.")
    spec = JudgeSpec.from_dict(judge)
    check_judge_reach(judge_settings(project.generator, overrides, project.pk), overrides)
    ids = project_ids(Solution.objects.filter(project=project), solution_ids,
                      foreign="Some solutions are not in this project.",
                      empty="No solutions to judge.")
    return start_run("judge", {"solution_ids": ids, "judge": {**asdict(spec), "generator": overrides}},
                     project=project, user=user)
