"""Gates in front of the queue: whether a user may take regular tasks yet.

A gate is ``fn(project, user) -> bool``. Until every gate says yes, the queue serves the
user gold items only. Apps register theirs in ``ready()``: the quality app registers the
screening test.
"""

from __future__ import annotations

from collections.abc import Callable

Gate = Callable[[object, object], bool]

GATES: list[Gate] = []


def register_gate(gate: Gate) -> Gate:
    if gate not in GATES:
        GATES.append(gate)
    return gate


def may_take_regular_tasks(project, user) -> bool:
    return all(gate(project, user) for gate in GATES)
