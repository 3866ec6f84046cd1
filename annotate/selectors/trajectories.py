"""An agent trajectory's messages around the steps the labeling page shows.

Each step of a trajectory is an assistant turn (``annotate.trajectory``); the user, system
and tool messages between two turns are context, shown before the step they precede and
never rated. Only solutions with a trajectory load one (``has_trajectory``, read with the
assignment), so every other task costs no query more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from annotate.models import Project, Solution
from annotate.trajectory import Turn, pretty, read_turns


@dataclass
class Shown:
    """A tool call or result as the page shows it: the tool's name and indented JSON."""
    name: str
    body: str
    id: str = ""
    is_error: bool = False


@dataclass
class ShownTurn:
    index: int | None  # the message's index; None for Anthropic's top-level system prompt
    role: str
    text: str
    tool_calls: list[Shown] = field(default_factory=list)
    tool_results: list[Shown] = field(default_factory=list)


def _shown(turn: Turn) -> ShownTurn:
    return ShownTurn(
        index=turn.index, role=turn.role, text=turn.text,
        tool_calls=[Shown(c.name, pretty(c.arguments), c.id) for c in turn.tool_calls],
        tool_results=[Shown(r.name, pretty(r.content), r.id, r.is_error) for r in turn.tool_results])


def _trajectory(solution: Solution) -> dict:
    if getattr(solution, "has_trajectory", True) is False:
        return {}
    if "trajectory" in solution.__dict__:  # the whole row is loaded (the page)
        return solution.trajectory or {}
    return Solution.objects.filter(pk=solution.pk).values_list("trajectory", flat=True).first() or {}


def _system_field(trajectory: dict) -> list[ShownTurn]:
    """Anthropic's system prompt is the record's ``system`` field (a string or text blocks),
    shown first; ``index`` None: it is no message."""
    if trajectory["shape"] != "anthropic":
        return []
    system = trajectory["fields"].get("system")
    if isinstance(system, list):
        system = "\n\n".join(b["text"] for b in system
                              if isinstance(b, dict) and isinstance(b.get("text"), str))
    if not isinstance(system, str) or not system.strip():
        return []
    return [ShownTurn(index=None, role="system", text=system)]


def attach_context(state) -> None:
    """Fill each shown position's ``context`` (the messages before its step), ``turn`` (the
    step's own message) and, on the last step, ``after``. First-error mode only: there a
    position is the solution's step of that index."""
    if state.project.mode != Project.Mode.FIRST_ERROR or not state.positions:
        return
    trajectory = _trajectory(state.assignment.solution)
    if not trajectory:
        return
    turns = read_turns(trajectory["messages"], trajectory["shape"])
    steps = trajectory["steps"]
    start = 0
    for pos in state.positions:
        if pos.index >= len(steps):
            break
        at = steps[pos.index]
        pos.context = [_shown(t) for t in turns[start:at]]
        if pos.index == 0:
            pos.context = _system_field(trajectory) + pos.context
        pos.turn = _shown(turns[at])
        start = at + 1
        if pos.index == len(steps) - 1:
            pos.after = [_shown(t) for t in turns[start:]]
