"""The label sources of ``bench_lessons.py``, each made and read by the product's own paths:
the demo seed, the autolabel service, the judge service, a registered PRM's scoring, the
machine-label import (the exact checker's labels as ``imported:exact``), ``labels_for`` and
the label rules, and the trainer's examples from a rule. Needs Django set up."""

from __future__ import annotations

from pathlib import Path

JUDGE_SOURCE = "demo-judge"


def seeded_project(n_problems: int, per_problem: int, error_rate: float):
    from annotate.models import Project, Solution
    from demo.seed import seed_demo_content
    from demo.testing import build_test_model

    project = Project.objects.create(name="Lessons", slug="lessons", generator={
        "model": str(build_test_model()), "delimiter": "\n"})
    seed_demo_content(project, n_problems=n_problems, solutions_per_problem=per_problem,
                      error_rate=error_rate, seed=0)
    solutions = list(Solution.objects.filter(project=project).select_related("problem").order_by("pk"))
    return project, solutions


def monte_carlo(project, solutions, rollouts: int, tmp: Path) -> tuple[str, dict]:
    """``mc_hard:<name>``: the demo generator under a name of its own per rollout count (a
    link to it), since the service keeps one Monte Carlo label per step and model name."""
    import time

    from demo.testing import build_test_model
    from generation.autolabel.services import autolabel_solutions
    from generation.config import GeneratorSettings

    link = tmp / "models" / f"demo-arith-mc{rollouts}"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(build_test_model(), target_is_directory=True)
    settings = GeneratorSettings.from_dict({
        "model": str(link), "delimiter": "\n", "max_new_tokens": 48, "temperature": 1.0,
        "top_p": 1.0, "batch_size": 64}, project_id=project.pk)
    started = time.perf_counter()
    stats = autolabel_solutions(solutions, settings, methods=("mc",), rollouts=rollouts, seed=rollouts)
    return f"mc_hard:{settings.model[:200]}", {
        "rollouts": stats["rollouts"]["mc"], "seconds": round(time.perf_counter() - started, 1)}


def judge(solutions, path: str | None) -> tuple[str, dict]:
    """``judge:demo-judge``: the demo judge in process, greedy, one sample."""
    import time

    from demo.judge_model import MARKER, TEMPLATE_KEY
    from demo.testing import build_test_judge
    from generation.judging.services import JudgeSpec, judge_settings, judge_solutions

    folder = path or str(build_test_judge())
    waited = time.perf_counter()
    while not (Path(folder) / MARKER).exists():  # a build still running elsewhere
        if time.perf_counter() - waited > 3600:
            raise SystemExit(f"No finished demo judge at {folder}.")
        time.sleep(10)
    settings = judge_settings({"delimiter": "\n"}, {"model": folder, "batch_size": 16})
    spec = JudgeSpec(source=JUDGE_SOURCE, template=TEMPLATE_KEY, max_new_tokens=160)
    started = time.perf_counter()
    stats = judge_solutions(solutions, settings, spec, seed=0)
    return f"judge:{JUDGE_SOURCE}", {
        "steps": stats["steps"], "unparsed": stats["unparsed"],
        "seconds": round(time.perf_counter() - started, 1), "model": folder}


def prm_labels(project, solutions, path: Path) -> str:
    """``prm:<name>@0.5``: a PRM registered in the project and scored like any other."""
    from training.scoring import score_project_solutions
    from training.services import register_model

    model = register_model(project=project, name=f"lessons-{path.name}", path=str(path))
    score_project_solutions(model, [s.pk for s in solutions])
    return f"prm:{model.name}@0.5"


def exact_source(project, solutions) -> str:
    """``imported:exact``: the checker's own labels, imported as machine labels."""
    from annotate.services.imports.machine_labels import import_label_records
    from demo.labels import exact_labels_for_solution

    rows = [(i, {"solution_id": s.pk,
                 "step_labels": [1 if ok else -1 for ok in exact_labels_for_solution(s)]})
            for i, s in enumerate(solutions, 1)]
    report = import_label_records(project, rows, source_name="exact", source="exact")
    assert not report.rejected, report.rejected[:3]
    return "imported:exact"


def read(spec, solution_ids) -> tuple[dict, float | None]:
    """A source's or a rule's labels, and the fraction of candidate steps a rule kept."""
    from quality.label_rules import apply_rule
    from quality.labels import labels_for

    if isinstance(spec, dict):
        labels, tally = apply_rule(spec, solution_ids)
        return labels, None if tally.fraction is None else round(tally.fraction, 3)
    return labels_for(spec, solution_ids), None


def examples(project, spec) -> list:
    from training.data import examples_from_rule

    rule = spec if isinstance(spec, dict) else {"rule": "source", "source": spec}
    return examples_from_rule(project, rule)[0]
