"""Starting runs over the API. Each kind goes through the service that owns it, which
checks that every id belongs to the project and that the settings are sane; the API only
checks the shape of the params first. Unknown kinds and parameters are 400s."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError

STARTABLE_KINDS = ("generate_solutions", "generate_candidates", "autolabel", "judge",
                   "train_prm", "score_solutions", "search", "export", "resegment")

#: kind -> {param: (type, required)}; types: "int", "ids", "str", "bool", "dict", "strs"
PARAMS: dict[str, dict[str, tuple[str, bool]]] = {
    "generate_solutions": {"problem_ids": ("ids", False), "n": ("int", False)},
    "generate_candidates": {"problem_id": ("int", True), "parent_id": ("int", False),
                            "k": ("int", False)},
    "autolabel": {"solution_ids": ("ids", False), "methods": ("strs", False),
                  "rollouts": ("int", False)},
    "judge": {"judge": ("dict", True), "solution_ids": ("ids", False)},
    "train_prm": {"name": ("str", True), "base_model": ("str", False),
                  "hyperparameters": ("dict", False), "snapshot_id": ("int", False),
                  "snapshot_split": ("str", False), "labels": ("dict", False),
                  "score_after": ("bool", False)},
    "resegment": {"strategy": ("str", True), "options": ("dict", False),
                  "generator": ("dict", False), "solution_ids": ("ids", False)},
    "score_solutions": {"prm_model_id": ("int", True), "solution_ids": ("ids", False)},
    "search": {"prm_model_id": ("int", True), "problem_ids": ("ids", False),
               "max_budget": ("int", False), "aggregate": ("str", False), "limit": ("int", False)},
}


def _typed(kind: str, value: Any) -> bool:
    is_int = isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**62
    return {
        "int": is_int,
        "ids": isinstance(value, list) and len(value) <= 100_000 and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**62 for v in value),
        "str": isinstance(value, str) and len(value) <= 500,
        "strs": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "bool": isinstance(value, bool),
        "dict": isinstance(value, dict),
    }[kind]


def check_params(kind: str, params: dict) -> dict:
    if kind not in STARTABLE_KINDS:
        raise ValidationError({"kind": f"Unknown run kind '{kind}'. Startable: "
                                       f"{', '.join(STARTABLE_KINDS)}."})
    spec = PARAMS[kind]
    errors = {}
    for name in set(params) - set(spec):
        errors[name] = f"Unknown parameter for {kind}. Accepted: {', '.join(sorted(spec))}."
    for name, (type_, required) in spec.items():
        if name not in params:
            if required:
                errors[name] = "Required."
        elif not _typed(type_, params[name]):
            errors[name] = f"Expected {type_}."
    if errors:
        raise ValidationError({"params": errors})
    return params


def start_api_run(kind: str, project, params: dict, user):
    """Start a run of ``kind`` for the project; returns the Run."""
    from annotate.models import Problem, StepNode

    check_params(kind, params)
    try:
        if kind == "generate_solutions":
            from generation.services import request_solutions

            run = request_solutions(project=project, problems=params.get("problem_ids"),
                                    n=params.get("n", 4), requested_by=user)
        elif kind == "generate_candidates":
            from generation.services import request_candidates

            problem = Problem.objects.filter(project=project, pk=params["problem_id"]).first()
            if problem is None:
                raise ValueError("No such problem in this project.")
            parent = None
            if params.get("parent_id"):
                parent = StepNode.objects.filter(problem=problem, pk=params["parent_id"]).first()
                if parent is None:
                    raise ValueError("No such step in this problem.")
            run = request_candidates(project=project, problem=problem, parent=parent,
                                     k=params.get("k", 3), requested_by=user)
        elif kind == "autolabel":
            from generation.autolabel.services import METHODS, request_autolabel

            run = request_autolabel(project=project, solutions=params.get("solution_ids"),
                                    methods=params.get("methods") or METHODS,
                                    rollouts=params.get("rollouts", 8), requested_by=user)
        elif kind == "judge":
            from generation.judging.services import start_judge

            run = start_judge(project=project, judge=params["judge"],
                              solution_ids=params.get("solution_ids"), user=user)
        elif kind == "resegment":
            from generation.resegmenting import start_resegment

            run = start_resegment(project=project, strategy=params["strategy"],
                                  options=params.get("options"), generator=params.get("generator"),
                                  solution_ids=params.get("solution_ids"), user=user)
        elif kind == "train_prm":
            run = _train(project, params, user)
        elif kind == "search":
            run = _search(project, params, user)
        else:  # score_solutions
            from training.models import PrmModel
            from training.services import start_scoring

            model = PrmModel.objects.filter(project=project, pk=params["prm_model_id"]).first()
            if model is None:
                raise ValueError("No such trained model in this project.")
            run = start_scoring(prm_model=model, solution_ids=params.get("solution_ids"),
                                user=user)
    except ValueError as exc:  # the services' own messages (TrainingError is a ValueError)
        raise ValidationError({"params": str(exc)})
    if run is None:
        raise ValidationError({"kind": f"{kind} needs a generator model: set the project's "
                                       "generator settings first."})
    return run


def _search(project, params, user):
    from search.services import start_search
    from training.models import PrmModel

    model = PrmModel.objects.filter(project=project, pk=params["prm_model_id"]).first()
    if model is None:
        raise ValueError("No such trained model in this project.")
    return start_search(prm_model=model, max_budget=params.get("max_budget", 8),
                        aggregate=params.get("aggregate", "min"),
                        problem_ids=params.get("problem_ids"), limit=params.get("limit"), user=user)


def _train(project, params, user):
    from training.services import start_training

    model = start_training(project=project, name=params["name"],
                           base_model=params.get("base_model", ""),
                           hyperparameters=params.get("hyperparameters"),
                           snapshot_id=params.get("snapshot_id"),
                           snapshot_split=params.get("snapshot_split"),
                           labels=params.get("labels"),
                           score_after=params.get("score_after", False), user=user)
    run = model.run
    run.warnings = [model.warning] if model.warning else []
    return run


NO_SNAPSHOT = "No ready export snapshot of this project with that id."


def resolve_snapshot(project, snapshot_id: int, split: str | None):
    """The file of ``split`` of ``project``'s ready snapshot: what ``training.snapshots``
    asks for (training may not import exports; the API may import both)."""
    from exports.models import ExportSnapshot
    from exports.services import SplitError, snapshot_file, snapshot_split

    snapshot = ExportSnapshot.objects.filter(pk=snapshot_id, projects=project,
                                             status=ExportSnapshot.Status.READY).first()
    if snapshot is None:  # a foreign snapshot reads exactly as a missing one
        raise ValueError(NO_SNAPSHOT)
    try:
        path = snapshot_file(snapshot, split)
    except SplitError as exc:
        if exc.asked is None:  # as its download does: never a guess among several splits
            raise ValueError(f"This export has {len(exc.splits)} splits ({', '.join(exc.splits)}): "
                             "name the one to train on with snapshot_split.") from None
        raise ValueError(f"This export has no split '{exc.asked}'; it has "
                         f"{', '.join(exc.splits)}.") from None
    if path is None:
        raise ValueError(NO_SNAPSHOT)
    return path, snapshot_split(snapshot, split)


def list_snapshots(projects):
    """(id, label, project ids) of the ready snapshots of ``projects``, newest first."""
    from exports.models import ExportSnapshot

    rows = ExportSnapshot.objects.filter(projects__in=projects,
                                         status=ExportSnapshot.Status.READY).distinct()[:200]
    return [(s.pk, f"{s.name} v{s.version} ({s.format}; {', '.join(sorted(s.files))})",
             list(s.projects.values_list("pk", flat=True))) for s in rows]
