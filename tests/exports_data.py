"""A small labeled project for the API and export tests, built through real services."""

from django.utils import timezone

from annotate.models import (
    Assignment,
    Membership,
    PreAnnotation,
    Problem,
    Project,
    Solution,
    StepNode,
    StepRating,
)


def node(problem, parent, text):
    return StepNode.objects.create(problem=problem, parent=parent,
                                   depth=0 if parent is None else parent.depth + 1, text=text)


def path(problem, texts, parent=None):
    nodes = []
    for text in texts:
        parent = node(problem, parent, text)
        nodes.append(parent)
    return nodes


def submit(project, solution, user, ratings: dict, reason="solution"):
    a = Assignment.objects.create(project=project, solution=solution, annotator=user,
                                  status=Assignment.Status.SUBMITTED, finish_reason=reason,
                                  finished_at=timezone.now())
    for n, r in ratings.items():
        StepRating.objects.create(assignment=a, node=n, rating=r)
    return a


def build(make_user, slug="lab"):
    """Project with admin/reviewer/annotator/outsider and three problems:

    p1: path a,b,c (+ alternative b2 at position 1); annotator found an error at b, rated b2
        good; reviewer rated a,b,c = +1,0,+1.
    p2: a gold solution whose step text contains the OpenRLHF placeholder.
    p3: an unlabeled solution with machine labels only.
    """
    users = {name: make_user(f"{slug}-{name}") for name in ("admin", "reviewer", "annotator",
                                                            "outsider")}
    project = Project.objects.create(name=slug.title(), slug=slug)
    for role in ("admin", "reviewer", "annotator"):
        Membership.objects.create(project=project, user=users[role], role=role)
    p1 = Problem.objects.create(project=project, statement="What is 2+3*4?",
                                ground_truth_answer="14", external_id="p1")
    a, b, c = path(p1, ["3*4 = 12.", "2+12 = 15.", "So the answer is 15."])
    b2 = node(p1, a, "2+12 = 14.")
    c2 = node(p1, b2, "So the answer is 14.")
    s1 = Solution.objects.create(problem=p1, last_step=c, final_answer="15", is_correct=False)
    Solution.objects.create(problem=p1, last_step=c2, final_answer="14", is_correct=True)
    a1 = submit(project, s1, users["annotator"], {a: 1, b: -1, b2: 1}, reason="found_error")
    a2 = submit(project, s1, users["reviewer"], {a: 1, b: 0, c: 1})
    p2 = Problem.objects.create(project=project, statement="Is 7 prime? ки", external_id="p2",
                                ground_truth_answer="yes")
    d, e = path(p2, ["7 has no divisors but 1 and 7 ки.", "So yes."])
    s2 = Solution.objects.create(problem=p2, last_step=e, final_answer="yes", is_correct=True,
                                 is_gold=True)
    a3 = submit(project, s2, users["annotator"], {d: 1, e: 1})
    p3 = Problem.objects.create(project=project, statement="What is 10/4?", external_id="p3",
                                ground_truth_answer="2.5")
    f, g = path(p3, ["10/4 = 2.5.", "The answer is 2.5."])
    Solution.objects.create(problem=p3, last_step=g, final_answer="2.5", is_correct=True)
    PreAnnotation.objects.create(node=f, kind="mc_soft", source="test", value=0.9)
    PreAnnotation.objects.create(node=g, kind="mc_soft", source="test", value=0.2)
    return {"project": project, "users": users, "nodes": dict(a=a, b=b, c=c, b2=b2, d=d, e=e,
                                                              f=f, g=g),
            "solutions": {"s1": s1, "s2": s2}, "assignments": {"a1": a1, "a2": a2, "a3": a3}}
