"""The bulk writer's traces and step groups: after the batch's solutions are written.

A solution has at most one trace: a solution that already has one keeps it (and its
groups), so importing a file again writes nothing. Traces of solutions this batch created
(the common case) go by ``COPY`` straight into the table; the others are first looked up.
Groups are written only with their solution's new trace.
"""

from __future__ import annotations

from django.db import connection

from annotate.models import SolutionTrace, StepGroup

from .stage import Columns, _copy, copy_new_rows, is_postgresql

LOOKUP_CHUNK = 2000


def chunks(items: list, size: int = LOOKUP_CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def write_traces(writer) -> None:
    wanted: dict[int, tuple[int, object]] = {}  # solution id -> (row, spec)
    for r, plan in enumerate(writer.plans):
        for spec in plan.traces:
            wanted.setdefault(writer.solution_ids[r][spec.solution], (r, spec))
    if not wanted:
        return
    lookup = [sid for sid in wanted if sid not in writer.new_solutions]
    have: set[int] = set()
    for part in chunks(lookup):
        have.update(SolutionTrace.objects.filter(solution_id__in=part)
                    .values_list("solution_id", flat=True))
    new = [sid for sid in wanted if sid not in have]
    _insert_traces([{"solution_id": sid, "text": wanted[sid][1].text,
                     "spans": [list(span) for span in wanted[sid][1].spans],
                     "segmentation": wanted[sid][1].segmentation,
                     "metadata": wanted[sid][1].metadata} for sid in new])
    groups = []
    for sid in new:
        r, _ = wanted[sid]
        writer.credits[r]["traces"] += 1
        plan = writer.plans[r]
        for g in plan.groups:
            if writer.solution_ids[r][g.solution] == sid:
                groups.append({"solution_id": sid, "index": g.index, "start": g.start,
                               "end": g.end, "title": g.title, "metadata": g.metadata})
                writer.credits[r]["step_groups"] += 1
    copy_new_rows(StepGroup, groups)


def _insert_traces(rows: list[dict]) -> None:
    """Traces keyed by their solution (the primary key, which ``Columns`` leaves out)."""
    if not rows:
        return
    if not is_postgresql():
        SolutionTrace.objects.bulk_create([SolutionTrace(**row) for row in rows])
        return
    cols = Columns.of(SolutionTrace)
    values = cols.values(rows)
    for row, value in zip(rows, values):
        value.append(row["solution_id"])
    pk = connection.ops.quote_name(SolutionTrace._meta.pk.column)
    with connection.cursor() as cur:
        _copy(cur.cursor, cols.table, f"{cols.quoted}, {pk}", values)
