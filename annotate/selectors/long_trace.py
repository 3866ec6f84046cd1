"""Read side of the long-trace page: the rail (every step's state) and the step groups.

A solution gets them when it has a source trace or groups (``SolutionTrace``, ``StepGroup``)
or at least ``LONG_STEPS`` steps; shorter ones keep the plain page (``state.layout`` None).
First-error mode only: there the solution's path fixes every position in advance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from annotate.models import PreAnnotation, Project, SolutionTrace, StepGroup
from annotate.services import blind

LONG_STEPS = 20
_RATING_STATE = {1: "great", 0: "okay", -1: "bad"}


@dataclass
class Cell:
    index: int
    node_id: int
    state: str = "hidden"  # "hidden" (not shown yet), "unrated", "great", "okay", "bad"
    flagged: bool = False  # the annotator marked it unsure
    hint: bool = False  # a machine source says it is likely wrong
    group_start: bool = False


@dataclass
class Group:
    pk: int
    index: int
    start: int
    end: int
    title: str
    rated: int = 0
    bad: bool = False

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def state(self) -> str:
        if self.bad:
            return "bad"
        return "done" if self.rated == self.size else ("part" if self.rated else "unrated")


@dataclass
class Layout:
    cells: Sequence[Cell]
    groups: list[Group]
    group_at: dict[int, Group] = field(default_factory=dict)  # position -> group starting there
    group_of: dict[int, Group] = field(default_factory=dict)  # position -> its group


class _Cells(Sequence):
    """The rail's cells, each built when read: an action's answer redraws one or two of a
    long trace's hundreds, so it builds only those."""

    def __init__(self, state, group_starts: set[int]):
        self._state, self._group_starts = state, group_starts

    def __len__(self) -> int:
        return len(self._state.path)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return _cell(self._state, i, i in self._group_starts)


def _cell(state, i: int, group_start: bool) -> Cell:
    cell = Cell(i, state.path[i].id, group_start=group_start)
    if i < len(state.positions):
        item = state.positions[i].items[0]
        cell.state = _RATING_STATE.get(item.rating, "unrated")
        cell.flagged = bool(item.flagged)
        # A hint that flags the step, or verify mode's verdict saying Bad.
        cell.hint = machine_flags(item.hints) or (
            item.verdict is not None and item.verdict.rating == -1)
    return cell


def machine_flags(hints) -> bool:
    """A machine source flags a step: a Bad label, or under even odds of being good."""
    return any(h.rating == -1 or (h.value is not None and h.value < 0.5) for h in hints)


def is_long(state) -> bool:
    if state.project.mode != Project.Mode.FIRST_ERROR or state.path is None:
        return False
    if len(state.path) >= LONG_STEPS:
        return True
    solution = state.assignment.solution
    has_trace = getattr(solution, "has_trace", None)
    if has_trace is None:  # a page load reads the whole row: ask once
        has_trace = (SolutionTrace.objects.filter(solution_id=solution.pk).exists()
                     or StepGroup.objects.filter(solution_id=solution.pk).exists())
    return has_trace


def attach_layout(state, *, all_hints: bool = True) -> None:
    """``state.layout`` for a long solution. ``all_hints``: read the machine hints of every
    step for the rail (a page load, every cell built); an action's answer reads only the shown
    steps' hints, and builds only the cells it redraws."""
    if not is_long(state):
        state.layout = None
        return
    path, positions = state.path, state.positions
    groups = [Group(g.pk, g.index, g.start, min(g.end, len(path)), g.title)
              for g in StepGroup.objects.filter(solution_id=state.assignment.solution_id)
              .only("id", "index", "start", "end", "title").order_by("index")
              if g.start < len(path)]
    cells = _Cells(state, {g.start for g in groups})
    if all_hints:
        cells = list(cells)
    if all_hints and state.project.show_hints:
        hints = PreAnnotation.objects.filter(node_id__in=[c.node_id for c in cells],
                                             scope__in=(0, state.assignment.solution_id))
        hidden = blind.hidden_hints(state.assignment)
        if hidden is not None:
            hints = hints.exclude(hidden)
        by_node: dict[int, list] = {}
        for h in hints.only("node_id", "rating", "value"):
            by_node.setdefault(h.node_id, []).append(h)
        for cell in cells:
            cell.hint = cell.hint or machine_flags(by_node.get(cell.node_id, []))
    layout = Layout(cells, groups)
    shown = len(positions)
    for g in groups:
        layout.group_at[g.start] = g
        for i in range(g.start, g.end):
            layout.group_of[i] = g
            if i < shown:
                rating = positions[i].items[0].rating
                g.rated += rating is not None
                g.bad = g.bad or rating == -1
    state.layout = layout
