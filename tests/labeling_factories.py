"""Small builders for the queue and labeling tests (real rows, no mocks)."""

from annotate.models import Membership, Problem, Project, Solution, StepNode


def make_project(slug="p", **fields) -> Project:
    return Project.objects.create(name=slug.title(), slug=slug, **fields)


def add_member(project, user, role=Membership.Role.ANNOTATOR):
    Membership.objects.create(project=project, user=user, role=role)
    return user


def make_solution(project, steps: list[str], *, statement=None, gold=False, answer="42",
                  alternatives: dict[int, list[str]] | None = None) -> Solution:
    """A problem with one path of ``steps``; ``alternatives[i]`` adds siblings at position i."""
    problem = Problem.objects.create(
        project=project, statement=statement or f"Problem {Problem.objects.count() + 1}: what is 6*7?",
        ground_truth_answer=answer)
    parent = None
    for i, text in enumerate(steps):
        node = StepNode.objects.create(problem=problem, parent=parent, depth=i, text=text)
        for alt in (alternatives or {}).get(i, []):
            StepNode.objects.create(problem=problem, parent=parent, depth=i, text=alt,
                                    author=StepNode.Author.MODEL)
        parent = node
    return Solution.objects.create(project=project, problem=problem, last_step=parent, is_gold=gold)
