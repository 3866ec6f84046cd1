"""Re-cutting an imported trace into other steps, carrying labels where spans still match.

``resegment(solution, strategy=..., options=...)`` (or ``spans=``, e.g. from a model through
``generation.segmenting``) cuts the trace's text again (a ``<think>`` text: the block's
inside, and the answer after it as the last step, as on import); the steps become a new path in the
problem's step tree (a shared prefix reuses its nodes), the solution now ends at the new
path's last step, and the trace keeps the new spans. A human rating or a gold label of a
step whose span is a span of the new cut moves to the new step; every other one is dropped
and counted in the report. A step group keeps its characters: it covers the new steps that
overlap the old group's first to last character. Machine labels (pre-annotations) belong to
nodes and stay with the old ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.db import transaction

from annotate.models import GoldLabel, Solution, SolutionTrace, StepGroup, StepNode, StepRating
from annotate.segmentation import check_spans, segment, segment_trace
from annotate.services.tree import get_or_create_node, path_of


class ResegmentError(ValueError):
    """A re-cut that cannot be made; the reason."""


@dataclass
class ResegmentReport:
    solution_id: int
    steps_before: int
    steps_after: int
    ratings_carried: int = 0
    ratings_dropped: int = 0
    gold_carried: int = 0
    gold_dropped: int = 0
    groups: list[tuple[int, int]] = field(default_factory=list)  # each group's new [start, end)

    def summary(self) -> str:
        return (f"solution {self.solution_id}: {self.steps_before} -> {self.steps_after} steps; "
                f"ratings {self.ratings_carried} carried, {self.ratings_dropped} dropped; gold "
                f"labels {self.gold_carried} carried, {self.gold_dropped} dropped")


def resegment(solution: Solution, *, strategy: str | None = None, options: dict | None = None,
              spans: list | None = None, segmentation: dict | None = None,
              run_id: int | None = None) -> ResegmentReport:
    """Cut ``solution``'s trace by ``strategy`` (with ``options``) or to the given ``spans``.

    With ``run_id`` (a ``resegment`` Run) the trace records the Run and the report; a second
    call of the same Run (a redelivered message) returns that report and changes nothing."""
    trace = SolutionTrace.objects.filter(solution=solution).first()
    if trace is None:
        raise ResegmentError(f"solution {solution.pk} has no trace (it was not imported as a "
                             "long text), so there is nothing to re-cut")
    # How the text was read on import (a <think> block's inside, then the answer) is kept.
    kept = {k: v for k, v in (trace.segmentation or {}).items() if k in ("mode", "field")}
    if spans is None:
        if not strategy:
            raise ResegmentError("give a strategy or spans")
        try:
            if kept.get("mode") == "think":
                new, _ = segment_trace(trace.text, strategy, **(options or {}))
            else:
                new = segment(trace.text, strategy, **(options or {}))
        except ValueError as exc:
            raise ResegmentError(str(exc)) from None
        segmentation = {"strategy": strategy, **(options or {})}
    else:
        try:
            new = check_spans(trace.text, spans)
        except ValueError as exc:
            raise ResegmentError(str(exc)) from None
        segmentation = segmentation or {"strategy": "spans"}
    segmentation = {**segmentation, **kept}
    with transaction.atomic():
        solution = Solution.objects.select_for_update().get(pk=solution.pk)
        if run_id is not None:
            done = done_by_run(solution, run_id)
            if done is not None:
                return done
        old_path = path_of(solution.last_step)
        old = [tuple(s) for s in trace.spans]
        if len(old_path) != len(old):
            raise ResegmentError(f"solution {solution.pk}'s path has {len(old_path)} steps but its "
                                 f"trace {len(old)} spans; it cannot be re-cut")
        nodes = _store(solution, [trace.text[s:e] for s, e in new])
        report = ResegmentReport(solution.pk, len(old), len(new))
        where = {span: k for k, span in enumerate(new)}
        moved = {}  # old node id -> new node id, or None: dropped
        for k, span in enumerate(old):
            j = where.get(span)
            moved[old_path[k].pk] = None if j is None else nodes[j].pk
        report.ratings_carried, report.ratings_dropped = _carry(
            StepRating.objects.filter(assignment__solution=solution), moved)
        report.gold_carried, report.gold_dropped = _carry(
            GoldLabel.objects.filter(solution=solution), moved)
        if nodes[-1].pk != solution.last_step_id:
            if Solution.objects.filter(last_step=nodes[-1]).exclude(pk=solution.pk).exists():
                raise ResegmentError("another solution already ends with these steps")
            solution.last_step = nodes[-1]
            solution.save(update_fields=["last_step"])
        for group in StepGroup.objects.filter(solution=solution).order_by("index"):
            first, last = old[group.start][0], old[group.end - 1][1]
            covered = [j for j, (s, e) in enumerate(new) if s < last and e > first]
            group.start, group.end = covered[0], covered[-1] + 1
            group.save(update_fields=["start", "end"])
            report.groups.append((group.start, group.end))
        trace.spans = [list(s) for s in new]
        before = {k: v for k, v in (trace.segmentation or {}).items()
                  if k not in ("previous", "run", "report")}
        trace.segmentation = {**segmentation, "previous": before}
        if run_id is not None:
            trace.segmentation.update(run=run_id, report=asdict(report))
        trace.save(update_fields=["spans", "segmentation"])
    return report


def done_by_run(solution: Solution, run_id: int) -> ResegmentReport | None:
    """The report of the re-cut Run ``run_id`` already made of ``solution``'s trace, or None."""
    seg = SolutionTrace.objects.filter(solution=solution).values_list("segmentation", flat=True).first()
    if not seg or seg.get("run") != run_id or not isinstance(seg.get("report"), dict):
        return None
    report = ResegmentReport(**seg["report"])
    report.groups = [tuple(g) for g in report.groups]
    return report


def _store(solution: Solution, texts: list[str]) -> list[StepNode]:
    nodes = []
    parent = None
    for text in texts:
        if not text.strip():
            raise ResegmentError(f"step {len(nodes) + 1} of the new cut is only whitespace")
        parent, _ = get_or_create_node(solution.problem, parent, text, author=StepNode.Author.IMPORT)
        nodes.append(parent)
    return nodes


def _carry(queryset, moved: dict) -> tuple[int, int]:
    """Move the rows on old path nodes to their new nodes; drop those with none."""
    carried = dropped = 0
    for row in queryset.filter(node_id__in=list(moved)):
        target = moved[row.node_id]
        if target is None:
            row.delete()
            dropped += 1
        else:
            if target != row.node_id:
                row.node_id = target
                row.save(update_fields=["node"])
            carried += 1
    return carried, dropped
