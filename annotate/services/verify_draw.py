"""Which machine source a new task shows (verify mode, docs/labeling.md).

A verify-mode project shows its source's verdicts on every task except a blind share of them
(``Project.verify_blind_share``, drawn per solution and annotator from a hash, so the draw is
the same however often it is asked) and the solutions a certification samples (their
annotators must not see the source they certify). The label-sources report compares
agreement with the source on shown and blind tasks: whether verifying anchors people.
"""

from __future__ import annotations

import hashlib

from annotate.models import Solution

from . import blind


def blind_fraction(solution_id: int, annotator_id: int) -> float:
    digest = hashlib.sha256(f"verify-blind:{solution_id}:{annotator_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def shown_source_for(project, solution_id: int, annotator_id: int) -> str:
    spec = project.verify_source
    if not spec:
        return ""
    if blind_fraction(solution_id, annotator_id) < project.verify_blind_share:
        return ""
    first = blind.first_solutions(project)
    if first is not None and Solution.objects.filter(first, pk=solution_id).exists():
        return ""
    return spec
