"""Bulk ingest of problems and solutions over the API.

Idempotent by external id: a row whose external id exists already reports ``existing``
and writes nothing. Each row commits or rolls back on its own (a savepoint), so one bad
row never half-writes and never blocks the others; the project row is locked for the
request so two concurrent ingests cannot both create the same external id.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from annotate.models import Problem, Project, Solution, StepNode
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


def _path(problem: Problem, texts: list[str]) -> StepNode:
    parent = None
    for depth, text in enumerate(texts):
        h = content_hash(text)
        node = StepNode.objects.filter(problem=problem, parent=parent, text_hash=h).first()
        if node is None:
            node = StepNode.objects.create(problem=problem, parent=parent, depth=depth, text=text,
                                           author=StepNode.Author.IMPORT)
        parent = node
    return parent


def ingest_solutions(project: Project, items: list[dict]) -> list[dict]:
    results = []
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        for index, item in enumerate(items):
            ext = item.get("external_id") or ""
            if ext:
                existing = Solution.objects.filter(project=project, external_id=ext).first()
                if existing is not None:
                    results.append({"index": index, "status": "existing", "id": existing.pk,
                                    "errors": None})
                    continue
            problem = None
            if item.get("problem_id"):
                problem = Problem.objects.filter(project=project, pk=item["problem_id"]).first()
            elif item.get("problem_external_id"):
                problem = Problem.objects.filter(
                    project=project, external_id=item["problem_external_id"]).first()
            if problem is None:
                results.append({"index": index, "status": "error", "id": None, "errors": {
                    "problem": ["No such problem in this project."]}})
                continue
            with transaction.atomic():
                last = _path(problem, item["steps"])
                solution = Solution.objects.filter(last_step=last).first()
                if solution is not None:
                    results.append({"index": index, "status": "existing", "id": solution.pk,
                                    "errors": None})
                    continue
                solution = Solution.objects.create(
                    project=project, problem=problem, last_step=last,
                    final_answer=item.get("final_answer") or "", is_correct=item.get("is_correct"),
                    external_id=ext, is_gold=item.get("is_gold", False),
                    metadata=item.get("metadata") or {}, source=Solution.Source.IMPORT)
            results.append({"index": index, "status": "created", "id": solution.pk, "errors": None})
    return results
