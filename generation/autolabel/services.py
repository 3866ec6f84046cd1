"""Auto-labels in the database: machine pre-annotations with provenance, never ratings.

``autolabel_solutions`` writes ``PreAnnotation`` rows of kind ``mc_soft``, ``mc_hard``
and ``binary_search`` (one per node, kind and model: a node's value depends only on
its prefix, so solutions that share a prefix share it). ``human_agreement`` compares
them with human ratings where both exist.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.db.models import Q

from annotate.models import Assignment, PreAnnotation, Solution, StepRating
from annotate.services.tree import path_of
from generation.config import GeneratorSettings
from generation.selection import project_ids

from .estimators import binary_search_first_error, mc_estimates, search_labels
from .rollouts import ModelRoller, answer_verdict

METHODS = ("mc", "binary_search")
KINDS = (PreAnnotation.Kind.MC_SOFT, PreAnnotation.Kind.MC_HARD, PreAnnotation.Kind.BINARY_SEARCH)


def _store(node, kind: str, source: str, value: float, provenance: dict, run_id) -> None:
    PreAnnotation.objects.update_or_create(
        node=node, kind=kind, source=source,
        defaults={"value": float(value), "provenance": provenance, "run_id": run_id},
    )


def autolabel_solution(solution: Solution, settings: GeneratorSettings, *, methods=METHODS,
                       rollouts: int = 8, seed: int = 0, run_id: int | None = None) -> dict:
    """Label one solution's steps; returns rollout counts per method."""
    nodes = path_of(solution.last_step)
    steps = [n.text for n in nodes]
    truth = solution.problem.ground_truth_answer
    roller = ModelRoller(settings, solution.problem.statement, truth, seed=seed)
    source = settings.model[:200]
    base = {"rollouts": rollouts, "seed": seed, "run": run_id,
            "temperature": settings.temperature or 1.0, "top_p": settings.top_p}
    used = {}
    if "mc" in methods:
        estimates = mc_estimates(steps, rollouts, roller,
                                 answer_correct=lambda s: answer_verdict(s, truth))
        with transaction.atomic():
            for node, est in zip(nodes, estimates):
                prov = {**base, "method": "math_shepherd", "rollouts": est.rollouts,
                        "correct": round(est.soft * est.rollouts)}
                _store(node, PreAnnotation.Kind.MC_SOFT, source, est.soft, prov, run_id)
                _store(node, PreAnnotation.Kind.MC_HARD, source, est.hard, prov, run_id)
        used["mc"] = sum(e.rollouts for e in estimates)
    if "binary_search" in methods:
        last = answer_verdict(steps[-1], truth) if steps else None
        correct = bool(solution.is_correct) if last is None else last
        before = roller.rollouts
        result = binary_search_first_error(steps, rollouts, roller, solution_correct=correct)
        labels = search_labels(len(steps), result)
        prov = {**base, "method": "omegaprm_binary_search", "first_error": result.first_error,
                "probes": result.probes, "rollouts_used": roller.rollouts - before}
        with transaction.atomic():
            for node, label in zip(nodes, labels):
                if label is not None:
                    _store(node, PreAnnotation.Kind.BINARY_SEARCH, source, label, prov, run_id)
        used["binary_search"] = result.rollouts
    return used


def autolabel_solutions(solutions: list[Solution], settings: GeneratorSettings, *,
                        methods=METHODS, rollouts: int = 8, seed: int = 0,
                        run_id: int | None = None,
                        on_progress: Callable[[int, int], None] | None = None) -> dict:
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"Unknown auto-label methods: {', '.join(sorted(unknown))}.")
    totals = {m: 0 for m in methods}
    for i, solution in enumerate(solutions):
        used = autolabel_solution(solution, settings, methods=methods, rollouts=rollouts,
                                  seed=seed + 7919 * i, run_id=run_id)
        for m, count in used.items():
            totals[m] += count
        if on_progress:
            on_progress(i + 1, len(solutions))
    return {"solutions": len(solutions), "rollouts": totals}


def human_agreement(project, *, threshold: float = 0.5) -> dict:
    """How often each kind of auto-label agrees with human ratings, where both exist.

    A human rating of Okay or Great (>= 0) counts as a good step; a machine value at or
    above ``threshold`` does. Only ratings from submitted labeling work count.
    """
    ratings = StepRating.objects.filter(
        assignment__project=project, assignment__status=Assignment.Status.SUBMITTED,
        rating__isnull=False,
    ).values_list("node_id", "rating")
    human: dict[int, list[int]] = {}
    for node_id, rating in ratings:
        human.setdefault(node_id, []).append(rating)
    report = {}
    machine = PreAnnotation.objects.filter(
        Q(kind__in=KINDS), node_id__in=list(human),
    ).values_list("node_id", "kind", "value")
    pairs: dict[str, list[bool]] = {}
    for node_id, kind, value in machine:
        machine_good = value >= threshold
        for rating in human[node_id]:
            pairs.setdefault(kind, []).append(machine_good == (rating >= 0))
    for kind in KINDS:
        agree = pairs.get(kind, [])
        report[kind] = {"pairs": len(agree),
                        "agreement": round(sum(agree) / len(agree), 4) if agree else None}
    return report


def request_autolabel(*, project, solutions=None, methods=METHODS, rollouts: int = 8,
                      requested_by=None):
    """Start an ``autolabel`` run; None when the project has no generator model."""
    from workers.runs import start_run

    if not (project.generator or {}).get("model"):
        return None
    GeneratorSettings.from_dict(project.generator)
    if set(methods) - set(METHODS) or not methods:
        raise ValueError(f"methods must be a non-empty subset of {', '.join(METHODS)}.")
    if not 1 <= int(rollouts) <= 256:
        raise ValueError("rollouts must be between 1 and 256.")
    ids = project_ids(Solution.objects.filter(project=project), solutions,
                      foreign="Some solutions are not in this project.",
                      empty="No solutions to label.")
    return start_run("autolabel", {"solution_ids": ids, "methods": list(methods),
                                   "rollouts": int(rollouts)}, project=project, user=requested_by)
