"""Solutions' step paths as node ids, root first: one query per tree level for a whole batch."""

from __future__ import annotations

from collections.abc import Iterable

from annotate.models import Solution, StepNode


def node_paths(last_step_ids: Iterable[int]) -> dict[int, list[int]]:
    """last step id -> [node id of step 0, step 1, ...]."""
    parent: dict[int, int | None] = {}
    missing = set(last_step_ids)
    while missing:
        found = dict(StepNode.objects.filter(id__in=missing).values_list("id", "parent_id"))
        parent.update(found)
        missing = {p for p in found.values() if p is not None and p not in parent}
    paths = {}
    for last in last_step_ids:
        path, node = [], last
        while node is not None and node in parent:
            path.append(node)
            node = parent[node]
        paths[last] = path[::-1]
    return paths


def solution_paths(solution_ids: Iterable[int]) -> dict[int, list[int]]:
    """solution id -> its path's node ids, root first."""
    last = dict(Solution.objects.filter(id__in=list(solution_ids))
                .values_list("id", "last_step_id"))
    paths = node_paths(last.values())
    return {sid: paths[step] for sid, step in last.items()}
