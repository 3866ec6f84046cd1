"""Bulk ingest of problems and solutions over the API.

Idempotent by external id: a row whose external id exists already reports ``existing``
and writes nothing. Problems: the existing ones found in one query, the new ones inserted
set-wise. Solutions: the request is one batch of the bulk importer (``annotate.services.imports``),
so a path's nodes go in level by level and the solutions set-wise; a row the database
refuses is found and reported alone, the others written. An existing solution at the
same path reports ``existing`` (blank fields filled, gold only turns on, as on import).
The project row is locked for the request so two concurrent ingests cannot both create
the same external id.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from annotate.models import Problem, Project, Solution
from annotate.models.problems import content_hash

MAX_ITEMS = 1000


def _errors(exc) -> dict:
    detail = getattr(exc, "detail", None)
    return detail if isinstance(detail, dict) else {"non_field_errors": [str(exc)]}


def ingest_problems(project: Project, items: list[dict]) -> list[dict]:
    """Existing problems found in two queries for the whole request, the new ones inserted
    set-wise (``COPY`` on PostgreSQL); within the request the first row of a statement or an
    external id is the one written."""
    from annotate.services.imports.stage import insert_keyed, is_postgresql

    hashes = [content_hash(item["statement"]) for item in items]
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        exts = {item.get("external_id") for item in items if item.get("external_id")}
        rows = list(Problem.objects.filter(project=project).filter(
            Q(statement_hash__in=set(hashes)) | Q(external_id__in=exts)).values_list(
            "id", "statement_hash", "external_id"))
        # statement hash / external id -> (the problem's id, or ("row", index) for the row of
        # this request that writes it; its statement hash; its external id)
        by_hash = {h: (pk, h, ext) for pk, h, ext in rows}
        by_ext = {ext: (pk, h, ext) for pk, h, ext in rows if ext}
        found: list[tuple | str] = []
        new: dict[str, int] = {}
        for index, (item, h) in enumerate(zip(items, hashes)):
            ext = item.get("external_id") or ""
            known = by_ext.get(ext) if ext else None
            if known is None and h in by_hash:
                known = by_hash[h]
                if ext and known[2] != ext:
                    found.append(("conflict", known))
                    continue
            if known is None:
                new[h] = index
                known = by_hash[h] = (("row", index), h, ext)
                if ext:
                    by_ext[ext] = known
                found.append(("created", known))
            else:
                found.append(("existing", known))
        fields = ("external_id", "statement", "ground_truth_answer", "reference_solution",
                  "subject", "level", "metadata")
        keys = [(h,) for h in new]
        ids = {key[0]: pk for key, pk in insert_keyed(Problem, [
            {"project_id": project.pk, "statement_hash": h,
             **{f: items[i][f] for f in fields if f in items[i]}} for h, i in new.items()],
            keys, [False] * len(keys), ("statement_hash",)).items()}
        if not is_postgresql() and new:
            ids = dict(Problem.objects.filter(project=project, statement_hash__in=list(new))
                       .values_list("statement_hash", "id"))
    results = []
    for index, (status, (ref, h, ext)) in enumerate(found):
        pk = ids.get(h) if isinstance(ref, tuple) else ref
        if status == "conflict":
            results.append({"index": index, "status": "error", "id": None, "errors": {
                "statement": [f"Problem {pk} already has this statement (external id {ext!r})."]}})
        elif pk is None:  # written at the same moment by an import: refused by a constraint
            results.append({"index": index, "status": "error", "id": None, "errors": {
                "non_field_errors": ["Conflict: another problem with this statement or external "
                                     "id was written at the same time."]}})
        else:
            results.append({"index": index, "status": "created" if status == "created" and
                            ref == ("row", index) else "existing", "id": pk, "errors": None})
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
