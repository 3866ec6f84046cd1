"""Generation against the database: full solutions per problem, candidate next steps.

Sampling seeds are derived from the run's seed and the batch, so a retried or
redelivered task samples the same texts again, and the step tree's unique
constraint turns them into the nodes that already exist.
"""

from __future__ import annotations

from collections.abc import Callable

from annotate.models import Problem, StepNode
from annotate.services.tree import get_or_create_node, path_of, store_solution

from .backends import backend_for
from .config import GeneratorSettings
from .sampling import first_step, split_steps


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield i // size, items[i:i + size]


def generate_solutions(problems: list[Problem], settings: GeneratorSettings, *, n: int,
                       seed: int = 0, run_id: int | None = None,
                       on_batch: Callable[[int, int], None] | None = None) -> dict:
    """``n`` sampled solutions per problem, stored as model paths and graded."""
    backend = backend_for(settings)
    provenance = settings.provenance(run=run_id)
    per_call = backend.prompts_per_call(n)
    stats = {"solutions": 0, "new_solutions": 0, "new_nodes": 0, "correct": 0,
             "unfinished": 0, "tokens": 0}
    for index, batch in _chunks(problems, per_call):
        prompts = [backend.prompt(p.statement) for p in batch]
        outs = backend.complete(prompts, n=n, max_new_tokens=settings.max_new_tokens,
                                temperature=settings.temperature, top_p=settings.top_p,
                                seed=seed + index)
        for problem, samples in zip(batch, outs):
            for s in samples:
                stats["tokens"] += s.tokens
                steps, finished = split_steps(s.text, settings.delimiter, max_steps=settings.max_steps)
                if not steps:
                    continue
                solution, created, new_nodes = store_solution(
                    problem, steps, generator=provenance,
                    metadata={"run": run_id, "finished": finished},
                )
                stats["solutions"] += 1
                stats["new_solutions"] += created
                stats["new_nodes"] += new_nodes
                stats["correct"] += bool(solution.is_correct)
                stats["unfinished"] += not finished
        if on_batch:
            on_batch(min((index + 1) * per_call, len(problems)), len(problems))
    return stats


def generate_candidates(problem: Problem, parent: StepNode | None, settings: GeneratorSettings,
                        *, k: int, seed: int = 0, run_id: int | None = None) -> dict:
    """Up to ``k`` new alternative steps after ``parent`` (None: first steps).

    Samples that repeat an existing sibling, or each other, are dropped; one more
    round with twice the samples tries to make up the shortfall.
    """
    backend = backend_for(settings)
    prompt = backend.prompt(problem.statement, [node.text for node in path_of(parent)])
    siblings = StepNode.objects.filter(problem=problem)
    siblings = siblings.filter(parent=parent) if parent else siblings.filter(parent__isnull=True)
    seen = set(siblings.values_list("text", flat=True))
    provenance = settings.provenance(run=run_id)
    # A retried run counts what its first attempt already made, so it adds no more.
    created_ids: list[int] = list(
        siblings.filter(generator__run=run_id).values_list("pk", flat=True)
    ) if run_id is not None else []
    duplicates = 0
    for attempt, count in enumerate((k, 2 * k)):
        if len(created_ids) >= k:
            break
        (samples,) = backend.complete([prompt], n=count, max_new_tokens=settings.max_step_tokens,
                                      temperature=settings.temperature, top_p=settings.top_p,
                                      stop=settings.delimiter, seed=seed + attempt)
        for s in samples:
            text = first_step(s.text, settings.delimiter)
            if not text or text in seen:
                duplicates += bool(text)
                continue
            seen.add(text)
            node, created = get_or_create_node(problem, parent, text, generator=provenance)
            if created:
                created_ids.append(node.pk)
            if len(created_ids) >= k:
                break
    return {"created": len(created_ids), "node_ids": created_ids, "duplicates_dropped": duplicates}
