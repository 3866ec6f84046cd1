"""Builders for the admin / quality tests: a project, a solution path and rated assignments."""

from django.utils import timezone

from annotate.models import Assignment, Membership, Problem, Project, Solution, StepNode, StepRating


def make_project(slug="qc", admin=None, **fields) -> Project:
    project = Project.objects.create(name=fields.pop("name", slug.upper()), slug=slug, **fields)
    if admin is not None:
        Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    return project


def add(project, user, role=Membership.Role.ANNOTATOR) -> Membership:
    return Membership.objects.create(project=project, user=user, role=role)


def make_solution(project, n_steps=3, tag="p", gold=False) -> Solution:
    problem = Problem.objects.create(project=project, statement=f"Problem {tag}: 2+2?",
                                     ground_truth_answer="4")
    parent = None
    for i in range(n_steps):
        parent = StepNode.objects.create(problem=problem, parent=parent,
                                         depth=i, text=f"{tag} step {i + 1}")
    return Solution.objects.create(project=project, problem=problem, last_step=parent,
                                   final_answer="4", is_gold=gold)


def path_of(solution) -> list[StepNode]:
    nodes, node = [], solution.last_step
    while node is not None:
        nodes.append(node)
        node = node.parent
    return nodes[::-1]


def rate(solution, user, ratings, *, times_ms=None, status=Assignment.Status.SUBMITTED,
         flagged=()) -> Assignment:
    """Submit ``ratings`` (one per path step; None = unrated) as ``user``'s assignment."""
    assignment = Assignment.objects.create(
        project=solution.project, solution=solution, annotator=user, status=status,
        finished_at=timezone.now() if status == Assignment.Status.SUBMITTED else None,
        total_time_ms=1000 * len(ratings),
    )
    for i, (node, value) in enumerate(zip(path_of(solution), ratings)):
        StepRating.objects.create(
            assignment=assignment, node=node, rating=value, flagged=i in flagged,
            time_spent_ms=(times_ms[i] if times_ms else 1000),
        )
    return assignment
