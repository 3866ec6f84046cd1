"""PRM800K JSONL, a superset: each record exactly as the PRM800K importer reads it
(``annotate.services.exports.prm800k``), plus a ``stepwise`` key with ids and provenance
that PRM800K readers ignore, and the task's critiques there (``critiques``: one per critiqued
step, with its node, text, origin and corrected step)."""

from annotate.models import Assignment

from ..records import split_of
from ..selectors import iter_assignment_chunks


def iter_rows(spec: dict, refused: list | None = None, tally=None):
    from annotate.services.exports.prm800k import prm800k_rows
    from quality.critiques import critiques_of_assignments

    for ids in iter_assignment_chunks(spec):
        critiques = critiques_of_assignments(ids)
        for row, record in prm800k_rows(Assignment.objects.filter(id__in=ids)):
            record["stepwise"] = {
                "project_id": row.project_id, "problem_id": row.problem_id,
                "problem_external_id": row.problem_external_id, "solution_id": row.solution_id,
                "assignment_id": row.pk, "annotator_id": row.annotator_id, "source": row.source,
                "is_gold": row.is_gold,
                "critiques": [critique_entry(node, c)
                              for node, c in sorted(critiques.get(row.pk, {}).items())],
            }
            steps = sum(len(s.get("completions") or []) for s in record["label"]["steps"])
            yield split_of(row.statement_hash, spec["test_fraction"], spec["split_seed"]), \
                record, steps


def critique_entry(node_id: int, critique) -> dict:
    return {"node_id": node_id, "text": critique.text, "origin": critique.origin,
            "machine_source": critique.machine_source, "reviewed": critique.reviewed,
            "correction": critique.correction}
