"""Training data from an export snapshot, named by id (and split), never by path.

``training`` may not import ``exports`` (they are neighbours, docs/architecture.md), so the
app that may read both (``api``) fills this registry in its ``AppConfig.ready()``:
``resolve(project, snapshot_id, split) -> (path, split)`` raises ``ValueError`` with a
message for the user, the same one for a foreign snapshot as for a missing one;
``listing(projects) -> [(snapshot id, label, project ids)]`` feeds the form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from .errors import TrainingError

SOURCE: dict[str, Callable] = {}


def register_snapshot_source(*, resolve: Callable, listing: Callable) -> None:
    SOURCE["resolve"], SOURCE["listing"] = resolve, listing


def snapshot_source(project, snapshot_id, split: str | None) -> dict:
    """The ``data_source`` of a training on ``split`` of ``project``'s snapshot."""
    if "resolve" not in SOURCE:
        raise TrainingError("Training from export snapshots is not available here.")
    try:
        path, split = SOURCE["resolve"](project, snapshot_id, split)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    path = Path(path).resolve()
    # Belt and braces: whatever the resolver says, only a file in the exports directory.
    if not path.is_relative_to(Path(settings.EXPORTS_DIR).resolve()) or not path.is_file():
        raise TrainingError("No ready export snapshot of this project with that id.")
    return {"kind": "snapshot", "snapshot_id": snapshot_id, "split": split, "file": path.name,
            "path": str(path)}


def snapshot_choices(projects) -> list[tuple[int, str]]:
    if "listing" not in SOURCE:
        return []
    return [(pk, label) for pk, label, _ in SOURCE["listing"](projects)]


def problem_groups(path: str | Path, enough: int = 2) -> int:
    """How many problems the snapshot file holds, counting up to ``enough`` only."""
    groups: set[str] = set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                groups.add(str(row.get("problem_id") or row.get("problem") or row.get("prompt")))
            except (ValueError, AttributeError):
                continue  # the training itself reports a bad row with its line number
            if len(groups) >= enough:
                break
    return len(groups)
