"""What an action changed on the labeling page, so that its answer carries only that: the
positions whose steps changed or appeared, the ones that went away, their rail cells and
groups. The answer's size then follows the change, never the number of steps.

``None`` means "answer with the whole panel": branch mode (positions there are chosen, not
fixed), an action that does not say what it changed, or a change too wide to be cheaper
in parts (a rating that hides many later steps, a very large group).
"""

from __future__ import annotations

from dataclasses import dataclass

from annotate.models import Project

MAX_REMOVED = 8
MAX_TOUCHED = 80


@dataclass
class Changes:
    replaced: list  # Positions already on the page, re-rendered in place
    added: list  # Positions new on the page, appended
    removed: list[int]  # indexes of positions no longer shown
    cells: list  # rail cells to redraw (long traces)
    groups: list  # group headers to redraw (long traces)


def _shape(entry: dict) -> dict:
    # "chosen" follows the step's rating, which the re-rendered item shows anyway.
    return {k: v for k, v in (entry or {}).items() if k != "chosen"}


def changes_of(state) -> Changes | None:
    if (state.changed is None or state.shown_before is None
            or state.project.mode != Project.Mode.FIRST_ERROR):
        return None
    old, changed = state.shown_before, state.changed
    removed = list(range(len(state.positions), len(old)))
    if len(removed) > MAX_REMOVED:
        return None
    replaced, added = [], []
    for pos in state.positions:
        if pos.index >= len(old):
            added.append(pos)
            continue
        if pos.index < state.kept_until:
            continue  # kept from the state before the action: before its first changed step
        entry = state.presentation[pos.index]
        if _shape(old[pos.index]) != _shape(entry) or any(i.node.id in changed for i in pos.items):
            replaced.append(pos)
    if len(replaced) + len(added) > MAX_TOUCHED:
        return None
    cells, groups = [], []
    layout = state.layout
    if layout is not None:
        touched = [p.index for p in replaced + added] + removed
        cells = [layout.cells[i] for i in touched if i < len(layout.cells)]
        redrawn = {p.index for p in replaced + added}
        seen = set()
        for i in touched:
            g = layout.group_of.get(i)
            if g is not None and g.pk not in seen and g.start not in redrawn:
                seen.add(g.pk)
                groups.append(g)
    return Changes(replaced, added, removed, cells, groups)
