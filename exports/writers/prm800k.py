"""PRM800K JSONL, a superset: each record exactly as the PRM800K importer reads it
(``annotate.services.exports.prm800k``), plus a ``stepwise`` key with ids and provenance
that PRM800K readers ignore."""

from annotate.models import Assignment

from ..records import split_of
from ..selectors import iter_assignment_chunks

META = ("id", "project_id", "solution__problem_id", "solution__problem__external_id",
        "solution_id", "annotator_id", "source", "solution__is_gold",
        "solution__problem__statement_hash")


def iter_rows(spec: dict, refused: list | None = None):
    from annotate.services.exports.prm800k import prm800k_records

    for ids in iter_assignment_chunks(spec):
        qs = Assignment.objects.filter(id__in=ids)
        meta = sorted(qs.values_list(*META))
        for row, record in zip(meta, prm800k_records(qs)):
            a_id, project_id, problem_id, problem_ext, solution_id, annotator_id, source, \
                is_gold, statement_hash = row
            record["stepwise"] = {
                "project_id": project_id, "problem_id": problem_id,
                "problem_external_id": problem_ext, "solution_id": solution_id,
                "assignment_id": a_id, "annotator_id": annotator_id, "source": source,
                "is_gold": is_gold,
            }
            steps = sum(len(s.get("completions") or []) for s in record["label"]["steps"])
            yield split_of(statement_hash, spec["test_fraction"], spec["split_seed"]), \
                record, steps
