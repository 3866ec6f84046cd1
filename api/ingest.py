"""Bulk ingest of problems and solutions over the API.

Idempotent by external id: a row whose external id exists already reports ``existing``
and writes nothing. Problems: each row commits or rolls back on its own (a savepoint).
Solutions: the request is one batch of the bulk importer (``annotate.services.imports``),
so a path's nodes go in level by level and the solutions set-wise; a row the database
refuses is found and reported alone, the others written. An existing solution at the
same path reports ``existing`` (blank fields filled, gold only turns on, as on import).
The project row is locked for the request so two concurrent ingests cannot both create
the same external id.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from annotate.models import Problem, Project, Solution
from annotate.models.problems import content_hash

MAX_ITEMS = 1000


def _errors(exc) -> dict:
    detail = getattr(exc, "detail", None)
    return detail if isinstance(detail, dict) else {"non_field_errors": [str(exc)]}


def ingest_problems(project: Project, items: list[dict]) -> list[dict]:
    results = []
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        for index, item in enumerate(items):
            ext = item.get("external_id") or ""
            existing = Problem.objects.filter(project=project, external_id=ext).first() if ext \
                else None
            if existing is None:
                existing = Problem.objects.filter(
                    project=project, statement_hash=content_hash(item["statement"])).first()
                if existing is not None and ext and existing.external_id != ext:
                    results.append({"index": index, "status": "error", "id": None, "errors": {
                        "statement": [f"Problem {existing.pk} already has this statement "
                                      f"(external id {existing.external_id!r})."]}})
                    continue
            if existing is not None:
                results.append({"index": index, "status": "existing", "id": existing.pk,
                                "errors": None})
                continue
            try:
                with transaction.atomic():
                    problem = Problem.objects.create(project=project, **item)
            except IntegrityError as exc:
                message = f"Conflict: {exc}".splitlines()[0]
                results.append({"index": index, "status": "error", "id": None,
                                "errors": {"non_field_errors": [message]}})
                continue
            results.append({"index": index, "status": "created", "id": problem.pk, "errors": None})
    return results


def ingest_solutions(project: Project, items: list[dict]) -> list[dict]:
    """The request's solutions as one batch of the bulk importer: every path's nodes level
    by level, the solutions set-wise; a row the database refuses is reported on its own."""
    from annotate.services.imports.batches import write_batch
    from annotate.services.imports.plan import RowPlan

    results: list[dict | None] = [None] * len(items)
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        exts = {item.get("external_id") for item in items if item.get("external_id")}
        by_ext = dict(Solution.objects.filter(project=project, external_id__in=exts)
                      .values_list("external_id", "id")) if exts else {}
        ids = {item["problem_id"] for item in items if item.get("problem_id")}
        known = set(Problem.objects.filter(project=project, pk__in=ids)
                    .values_list("id", flat=True)) if ids else set()
        names = {item["problem_external_id"] for item in items
                 if not item.get("problem_id") and item.get("problem_external_id")}
        by_name = dict(Problem.objects.filter(project=project, external_id__in=names)
                       .values_list("external_id", "id")) if names else {}
        plans, first_with_ext = [], {}
        for index, item in enumerate(items):
            ext = item.get("external_id") or ""
            if ext in by_ext:
                results[index] = {"index": index, "status": "existing", "id": by_ext[ext],
                                  "errors": None}
                continue
            if item.get("problem_id"):
                problem_id = item["problem_id"] if item["problem_id"] in known else None
            else:
                problem_id = by_name.get(item.get("problem_external_id"))
            if problem_id is None:
                results[index] = {"index": index, "status": "error", "id": None, "errors": {
                    "problem": ["No such problem in this project."]}}
                continue
            if ext and ext in first_with_ext:  # the same external id earlier in the request
                continue
            if ext:
                first_with_ext[ext] = index
            plan = RowPlan()
            problem = plan.existing_problem(problem_id)
            chain = plan.path(problem, item["steps"])
            plan.solution(problem, chain[-1], final_answer=item.get("final_answer") or "",
                          is_correct=item.get("is_correct"), external_id=ext,
                          is_gold=item.get("is_gold", False), metadata=item.get("metadata") or {})
            plans.append((index, plan))
        for index, outcome in write_batch(project, plans).items():
            if outcome[0] == "rejected":
                results[index] = {"index": index, "status": "error", "id": None,
                                  "errors": {"non_field_errors": [outcome[1]]}}
            else:
                _, credits, solution_ids = outcome
                results[index] = {"index": index, "id": solution_ids[0], "errors": None,
                                  "status": "created" if credits["solutions"] else "existing"}
        for index, item in enumerate(items):
            if results[index] is None:  # a repeat of an external id: the first one's solution
                first = results[first_with_ext[item["external_id"]]]
                results[index] = {**first, "index": index,
                                  "status": "existing" if first["id"] else "error"}
    return results
