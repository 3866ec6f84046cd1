"""What one row will write, planned in memory from the validated record.

A format's planner validates a record and returns a :class:`RowPlan`; it touches no
database, so a row that fails validation writes nothing. The bulk writer
(``bulk.py``) writes the plans of a whole batch set-wise. Rows refer to their own
problems and nodes by position in the plan; the writer maps those to database ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from annotate.models import Solution, StepNode
from annotate.models.problems import content_hash

from .common import MAX_ANSWER_CHARS, MAX_ID_CHARS, MAX_STATEMENT_CHARS, need_str


@dataclass
class ProblemSpec:
    statement: str
    statement_hash: str
    ground_truth_answer: str = ""
    reference_solution: str = ""
    external_id: str = ""
    subject: str = ""
    level: int | None = None
    metadata: dict = field(default_factory=dict)
    ground_truth_raw: str | None = None
    pk: int | None = None  # a problem known by id: used as it is


@dataclass
class NodeSpec:
    problem: int  # index into RowPlan.problems
    parent: int | None  # index into RowPlan.nodes
    text: str
    text_hash: str
    author: str
    depth: int


@dataclass
class SolutionSpec:
    problem: int
    last: int  # node index
    final_answer: str = ""
    is_correct: bool | None = None
    grade: bool = False  # grade final_answer against the problem's answer when is_correct is None
    source: str = Solution.Source.IMPORT
    external_id: str = ""
    is_gold: bool = False
    metadata: dict = field(default_factory=dict)
    merge_metadata: bool = False  # on an existing solution, add the metadata keys it lacks
    trajectory: dict = field(default_factory=dict)  # an agent trajectory's record (Solution.trajectory)


@dataclass
class AssignmentSpec:
    solution: int
    labeler: str  # username
    fields: dict
    #: (node index -> node id) -> the presentation stored and compared on re-import
    presentation: Callable[[Callable[[int], int]], list]
    ratings: list[tuple[int, int | None, bool | None]]  # (node index, rating, flagged)
    conflict_message: Callable[[Any], str]  # the existing labeled_at -> the rejection reason
    #: (node index, text, corrected step's node index or None): the labeler's critiques
    critiques: list[tuple[int, str, int | None]] = field(default_factory=list)


@dataclass
class PreAnnotationSpec:
    node: int
    kind: str
    source: str
    value: float
    provenance: dict


@dataclass
class GoldSpec:
    solution: int
    node: int
    rating: int
    source: str
    name: str  # what the rejection calls the item, e.g. its external id


@dataclass
class TraceSpec:
    """A solution's source text and step spans (``SolutionTrace``)."""
    solution: int
    text: str
    spans: list
    segmentation: dict
    metadata: dict = field(default_factory=dict)


@dataclass
class GroupSpec:
    """A run of a solution's steps rated as a unit (``StepGroup``)."""
    solution: int
    index: int
    start: int
    end: int
    title: str = ""
    metadata: dict = field(default_factory=dict)


class RowPlan:
    """Problems, nodes and the rows hanging off them, for one import row."""

    def __init__(self):
        self.problems: list[ProblemSpec] = []
        self.nodes: list[NodeSpec] = []
        self.solutions: list[SolutionSpec] = []
        self.assignments: list[AssignmentSpec] = []
        self.pre_annotations: list[PreAnnotationSpec] = []
        self.gold_labels: list[GoldSpec] = []
        self.traces: list[TraceSpec] = []
        self.groups: list[GroupSpec] = []
        self._problem_index: dict[str, int] = {}
        self._node_index: dict[tuple, int] = {}

    def problem(self, *, statement: str, ground_truth_answer: str = "", reference_solution: str = "",
                external_id: str = "", subject: str = "", level: int | None = None,
                metadata: dict | None = None, ground_truth_raw: str | None = None) -> int:
        """The row's problem with this statement (a repeat fills the first one's blanks)."""
        need_str(statement, "statement", max_len=MAX_STATEMENT_CHARS)
        spec = ProblemSpec(statement=statement, statement_hash=content_hash(statement),
                           ground_truth_answer=ground_truth_answer or "",
                           reference_solution=reference_solution or "",
                           external_id=(external_id or "")[:MAX_ID_CHARS], subject=subject or "",
                           level=level, metadata=dict(metadata or {}),
                           ground_truth_raw=ground_truth_raw)
        if ground_truth_raw:
            spec.metadata["ground_truth_raw"] = ground_truth_raw
        known = self._problem_index.get(spec.statement_hash)
        if known is not None:
            fill_problem(self.problems[known], spec)
            return known
        self._problem_index[spec.statement_hash] = len(self.problems)
        self.problems.append(spec)
        return len(self.problems) - 1

    def existing_problem(self, pk: int) -> int:
        """A problem of the project known by id (never created or changed)."""
        self.problems.append(ProblemSpec(statement="", statement_hash=f"id:{pk}", pk=pk))
        return len(self.problems) - 1

    def child(self, problem: int, parent: int | None, text: str, *,
              author: str = StepNode.Author.IMPORT) -> int:
        h = content_hash(text)
        key = (problem, parent, h)
        index = self._node_index.get(key)
        if index is None:
            depth = 0 if parent is None else self.nodes[parent].depth + 1
            index = self._node_index[key] = len(self.nodes)
            self.nodes.append(NodeSpec(problem=problem, parent=parent, text=text, text_hash=h,
                                       author=author, depth=depth))
        return index

    def path(self, problem: int, texts: list[str], parent: int | None = None) -> list[int]:
        chain = []
        for text in texts:
            parent = self.child(problem, parent, text)
            chain.append(parent)
        return chain

    def solution(self, problem: int, last: int, *, final_answer: str | None = None,
                 external_id: str = "", **fields) -> int:
        self.solutions.append(SolutionSpec(problem=problem, last=last,
                                           final_answer=(final_answer or "")[:MAX_ANSWER_CHARS],
                                           external_id=(external_id or "")[:MAX_ID_CHARS], **fields))
        return len(self.solutions) - 1


def fill_problem(have: ProblemSpec, new: ProblemSpec) -> list[str]:
    """Fill ``have``'s blanks from ``new`` (an existing problem keeps what it has); the
    names of the fields changed."""
    changed = []
    for name in ("ground_truth_answer", "reference_solution", "subject"):
        value = getattr(new, name)
        if value and not getattr(have, name):
            setattr(have, name, value)
            changed.append(name)
    if "ground_truth_answer" in changed and new.ground_truth_raw:
        have.ground_truth_raw = new.ground_truth_raw
        have.metadata = {**have.metadata, "ground_truth_raw": new.ground_truth_raw}
        changed.append("metadata")
    if new.level is not None and have.level is None:
        have.level = new.level
        changed.append("level")
    return changed
