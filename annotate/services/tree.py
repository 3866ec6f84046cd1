"""Writing steps into the step tree one node at a time, idempotently, and grading solutions.

A node's identity is (problem, parent, text) and the database enforces it, so storing
the same path twice (a retried task, a duplicate sample) reuses the existing nodes.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from annotate.grading import extract_final_answer, grade_answer
from annotate.models import Problem, Solution, StepNode
from annotate.models.problems import content_hash


def path_of(node: StepNode | None) -> list[StepNode]:
    """The nodes from the first step down to ``node`` (empty for None)."""
    path = []
    while node is not None:
        path.append(node)
        node = node.parent
    return path[::-1]


def get_or_create_node(problem: Problem, parent: StepNode | None, text: str, *,
                       author: str = StepNode.Author.MODEL, generator: dict | None = None,
                       author_user=None) -> tuple[StepNode, bool]:
    """The node with this text under ``parent``; created only when it does not exist."""
    lookup = {"problem": problem, "text_hash": content_hash(text)}
    lookup["parent" if parent is not None else "parent__isnull"] = parent if parent is not None else True
    existing = StepNode.objects.filter(**lookup).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            node = StepNode.objects.create(
                problem=problem, parent=parent, text=text,
                depth=0 if parent is None else parent.depth + 1,
                author=author, generator=generator or {}, author_user=author_user,
            )
            return node, True
    except IntegrityError:  # a concurrent writer created it first: use theirs
        return StepNode.objects.get(**lookup), False


def store_path(problem: Problem, steps: list[str], *, parent: StepNode | None = None,
               generator: dict | None = None) -> tuple[StepNode, int]:
    """Store ``steps`` below ``parent``; returns the last node and how many nodes were new."""
    if not steps:
        raise ValueError("A path needs at least one step.")
    created = 0
    node = parent
    for text in steps:
        node, new = get_or_create_node(problem, node, text, generator=generator)
        created += new
    return node, created


def store_solution(problem: Problem, steps: list[str], *, generator: dict,
                   metadata: dict | None = None) -> tuple[Solution, bool, int]:
    """A model solution along ``steps``, graded; returns (solution, created, new nodes)."""
    with transaction.atomic():
        last, new_nodes = store_path(problem, steps, generator=generator)
        solution, created = Solution.objects.get_or_create(
            last_step=last,
            defaults={"problem": problem, "project_id": problem.project_id,
                      "source": Solution.Source.MODEL, "metadata": metadata or {}},
        )
        if created:
            grade_solution(solution, "\n\n".join(steps))
    return solution, created, new_nodes


def grade_solution(solution, text: str | None = None) -> bool | None:
    """Extract and grade a Solution's final answer; store both. None when no answer was found."""
    if text is None:
        text = "\n\n".join(node.text for node in path_of(solution.last_step))
    answer = extract_final_answer(text or "")
    if answer is None:
        solution.final_answer, solution.is_correct = "", None
    else:
        solution.final_answer = answer
        solution.is_correct = grade_answer(answer, solution.problem.ground_truth_answer)
    solution.save(update_fields=["final_answer", "is_correct"])
    return solution.is_correct
