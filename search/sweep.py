"""A search sweep against the database: every strategy and budget on a project's
problems, graded; explored steps stored in the step tree with the PRM's scores as hints.

Sampling seeds are fixed by the Run and the problem, so a retried Run samples the same
texts; the step tree's identity (problem, parent, text) turns them into the nodes that
already exist, and results and hints are upserts.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from annotate.grading import grade_answer
from annotate.models import PreAnnotation, Problem, Solution, StepNode
from annotate.services.tree import get_or_create_node, grade_solution
from generation.backends import backend_for
from generation.config import GeneratorSettings
from training.backends import scorer_for

from .models import SearchedSolution, SearchResult
from .strategies import Outcome, Path, SearchSettings, sweep


def problem_seed(seed: int, index: int) -> int:
    return (seed * 1_000_003 + index * 7919) % 2**31


def search_problems(prm_model, problems: list[Problem], settings: GeneratorSettings, *,
                    max_budget: int, aggregate: str = "min", seed: int = 0, run=None,
                    on_problem: Callable[[int, int], None] | None = None) -> dict:
    """Run the sweep on each problem and store it; returns counts for the Run's result."""
    backend = backend_for(settings)
    scorer = scorer_for(prm_model)
    search_settings = SearchSettings.from_generator(settings, aggregate)
    stats = {"problems": 0, "results": 0, "new_nodes": 0, "solutions": 0,
             "generated_tokens": 0, "prm_tokens": 0}
    for index, problem in enumerate(problems):
        outcomes, samples = sweep(backend, scorer, problem.statement, search_settings, max_budget,
                                  seed=problem_seed(seed, index))
        with transaction.atomic():
            store = _ProblemStore(problem, prm_model, settings, run)
            stored = store.save(outcomes, samples, aggregate)
        stats["problems"] += 1
        stats["results"] += stored
        stats["new_nodes"] += store.new_nodes
        stats["solutions"] += len(store.solutions)
        stats["generated_tokens"] += sum(o.generated_tokens for o in outcomes)
        stats["prm_tokens"] += sum(o.prm_tokens for o in outcomes)
        if on_problem:
            on_problem(index + 1, len(problems))
    return stats


class _ProblemStore:
    """Writes one problem's search: nodes, solutions, PRM hints, searched solutions, results."""

    def __init__(self, problem: Problem, prm_model, settings: GeneratorSettings, run):
        self.problem, self.prm_model, self.settings, self.run = problem, prm_model, settings, run
        self.nodes: dict[tuple[str, ...], StepNode] = {}
        self.solutions: dict[tuple[str, ...], Solution] = {}
        self.scores: dict[int, float] = {}  # node id -> PRM score (the last one seen)
        self.new_nodes = 0

    def _provenance(self, strategy: str, **extra) -> dict:
        run_id = self.run.pk if self.run else None
        return self.settings.provenance(run=run_id, search={"prm_model": self.prm_model.pk,
                                                            "strategy": strategy}, **extra)

    def _path_nodes(self, steps: list[str], provenance: dict) -> list[StepNode]:
        out, parent = [], None
        for i in range(len(steps)):
            key = tuple(steps[:i + 1])
            node = self.nodes.get(key)
            if node is None:
                node, created = get_or_create_node(self.problem, parent, steps[i], generator=provenance)
                self.nodes[key] = node
                self.new_nodes += created
            out.append(node)
            parent = node
        return out

    def _add(self, path: Path, provenance: dict) -> None:
        if not path.steps:
            return
        nodes = self._path_nodes(path.steps, provenance)
        for node, value in zip(nodes, path.scores or []):
            if value is not None:
                self.scores[node.pk] = value
        key = tuple(path.steps)
        if path.finished and key not in self.solutions:
            solution, created = Solution.objects.get_or_create(
                last_step=nodes[-1],
                defaults={"problem": self.problem, "project_id": self.problem.project_id,
                          "source": Solution.Source.MODEL,
                          "metadata": {"run": self.run.pk if self.run else None, "search": True}})
            if created:
                grade_solution(solution, "\n\n".join(path.steps))
            self.solutions[key] = solution

    def save(self, outcomes: list[Outcome], samples: list[Path], aggregate: str) -> int:
        sampled = self._provenance("sample")
        for path in samples:
            self._add(path, sampled)
        for outcome in outcomes:
            if outcome.strategy == "greedy":
                self._add(Path(outcome.steps, finished=outcome.answer is not None),
                          self._provenance("greedy", temperature=0.0, top_p=1.0))
            for path in outcome.explored:
                self._add(path, self._provenance("beam", beam=outcome.config))
        self._save_hints()
        self._save_searched(samples, outcomes, aggregate)
        return self._save_results(outcomes)

    def _save_hints(self) -> None:
        source = self.prm_model.name[:200]
        provenance = {"prm_model": self.prm_model.pk, "path": self.prm_model.artifact_path,
                      "search_run": self.run.pk if self.run else None}
        PreAnnotation.objects.bulk_create(
            [PreAnnotation(node_id=nid, kind=PreAnnotation.Kind.PRM_SCORE, source=source,
                           value=value, run=self.run, provenance=provenance)
             for nid, value in self.scores.items()],
            update_conflicts=True, unique_fields=["node", "kind", "source", "scope"],
            update_fields=["value", "run", "provenance"],
        )

    def _margin(self, steps: tuple[str, ...]) -> float | None:
        """The smallest score gap along the path between a step and a scored sibling."""
        gaps = []
        for i in range(len(steps)):
            node = self.nodes[steps[:i + 1]]
            mine = self.scores.get(node.pk)
            if mine is None:
                continue
            siblings = [self.scores[other.pk] for key, other in self.nodes.items()
                        if len(key) == i + 1 and key[:i] == steps[:i] and other.pk != node.pk
                        and other.pk in self.scores]
            gaps.extend(abs(mine - s) for s in siblings)
        return min(gaps) if gaps else None

    def _save_searched(self, samples: list[Path], outcomes: list[Outcome], aggregate: str) -> None:
        if self.run is None:
            return
        finished = {tuple(p.steps): p for p in samples if p.finished}
        for outcome in outcomes:
            finished.update((tuple(p.steps), p) for p in outcome.explored if p.finished)
        for key, solution in self.solutions.items():
            path = finished.get(key)
            score = path.value(aggregate) if path is not None else None
            SearchedSolution.objects.update_or_create(
                run=self.run, solution=solution,
                defaults={"prm_model": self.prm_model, "score": score,
                          "margin": self._margin(key), "is_correct": solution.is_correct})

    def _save_results(self, outcomes: list[Outcome]) -> int:
        if self.run is None:
            return 0
        truth = self.problem.ground_truth_answer
        graded: dict[str | None, bool] = {}
        for o in outcomes:
            if o.answer not in graded:
                graded[o.answer] = grade_answer(o.answer, truth)
            SearchResult.objects.update_or_create(
                run=self.run, problem=self.problem, strategy=o.strategy, budget=o.budget,
                defaults={"prm_model": self.prm_model, "config": o.config,
                          "answer": o.answer or "", "is_correct": graded[o.answer],
                          "generated_tokens": o.generated_tokens, "prm_tokens": o.prm_tokens,
                          "solution": self.solutions.get(tuple(o.steps))})
        return len(outcomes)
