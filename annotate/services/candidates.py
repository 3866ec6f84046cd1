"""Where the labeling page gets new candidate steps.

Labeling asks for candidates where a position has none (branch mode) or after a Bad step
(first-error mode). The generation app supplies them and registers its function in
``ready()``; labeling knows only this signature::

    source(*, project, problem, parent, k, requested_by) -> Run | None

None means the project has no generator. A source raises ValueError for bad settings.
"""

from __future__ import annotations

from collections.abc import Callable

CandidateSource = Callable[..., object]

_source: CandidateSource | None = None


def register_candidate_source(source: CandidateSource) -> CandidateSource:
    global _source
    _source = source
    return source


def request_candidates(*, project, problem, parent, k: int, requested_by=None):
    """Start (or find) the Run that adds ``k`` candidate steps after ``parent``."""
    if _source is None:
        raise RuntimeError("No candidate source is registered; is the generation app installed?")
    return _source(project=project, problem=problem, parent=parent, k=k,
                   requested_by=requested_by)
