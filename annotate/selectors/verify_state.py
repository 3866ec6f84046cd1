"""Verify mode on the labeling page: the shown source's verdict on each shown step, and the
preview of what accept would take (docs/labeling.md, "Verify mode").

First-error mode shows the walk up to its first unrated step; accept takes the machine's
verdicts from there to its first Bad. So that a person sees every verdict they accept, the
steps after the current one that accept would take are shown below it as a preview (at most
``PREVIEW_STEPS``; accept takes exactly the current step and the preview). Verdicts are read
once per request where possible: the state before an action reads a window of the path ahead,
and the state after it reuses what was read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from annotate.models import Project
from annotate.services import blind

from .verdicts import Verdict, verdicts_for

PREVIEW_STEPS = 30


@dataclass
class PreviewStep:
    index: int
    node: object
    verdict: Verdict


@dataclass
class ReadVerdicts:
    found: dict  # node id -> Verdict
    asked: set  # node ids asked for (a node absent from ``found`` and ``rows`` has no verdict)
    # Read with the steps (selectors.labeling.path_and_ratings): node id -> the subquery's
    # columns, made a Verdict by ``convert`` when a shown step asks for it.
    rows: dict = field(default_factory=dict)
    convert: object = None

    def get(self, node_id: int) -> Verdict | None:
        verdict = self.found.get(node_id)
        if verdict is None and node_id in self.rows:
            verdict = self.found[node_id] = self.convert(*self.rows.pop(node_id))
        return verdict


def _window(state) -> list[int]:
    """First-error mode: the path's node ids from the current step through the preview's
    reach, plus one (a save that moves the walk on by one step reads nothing more)."""
    if state.project.mode != Project.Mode.FIRST_ERROR or state.path is None or not state.positions:
        return []
    at = state.positions[-1].index
    return [n.id for n in state.path[at:at + PREVIEW_STEPS + 2]]


def attach_verdicts(state, start: int = 0, before=None) -> None:
    """The verdicts of the shown steps from position ``start`` on, and the preview."""
    assignment = state.assignment
    positions = state.positions[start:]
    wanted = [item.node.id for p in positions for item in p.items if item.role != "human"]
    wanted += _window(state)
    read = before.verdicts if before is not None and before.verdicts is not None else None
    if read is None:
        # Read with the steps where possible (selectors.labeling.path_and_ratings).
        rows, convert, asked = getattr(assignment, "read_verdicts", None) or ({}, None, set())
        read = ReadVerdicts({}, set(asked), dict(rows), convert)
    missing = [n for n in dict.fromkeys(wanted) if n not in read.asked]
    if missing:
        try:
            read.found.update(verdicts_for(assignment.shown_source, assignment.solution_id,
                                           missing, blind.hidden_hints(assignment)))
        except ValueError as exc:  # a spec the project form would refuse (set elsewhere)
            state.verdict_error = str(exc)
        read.asked.update(missing)
    state.verdicts = read
    for p in positions:
        for item in p.items:
            item.verdict = read.get(item.node.id)
    state.preview = _preview(state, read)


def _preview(state, read: ReadVerdicts) -> list[PreviewStep]:
    current = state.current
    if (state.project.mode != Project.Mode.FIRST_ERROR or current is None or current.bad
            or current.items[0].rating is not None):
        return []
    first = current.items[0].verdict
    if first is None or first.rating is None or first.rating == -1:
        return []
    binary = state.project.rating_scale == Project.RatingScale.BINARY
    out = []
    for i in range(current.index + 1, min(len(state.path), current.index + 1 + PREVIEW_STEPS)):
        node = state.path[i]
        verdict = read.get(node.id)
        if verdict is None or verdict.rating is None or (binary and verdict.rating == 0):
            break
        out.append(PreviewStep(i, node, verdict))
        if verdict.rating == -1:
            break
    return out
