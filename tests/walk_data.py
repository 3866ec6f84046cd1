"""A branch-mode walk that leaves its seeded solution, labeled through the labeling services
(the functions the page's views call), and what every export must give back for it.

Seeded solution: A1, B1, C1, "# Answer 41", with A2 beside A1 and B2 beside B1; C2 and C3
are children of B2. The walk: A1 (Okay) beside A2 (Bad), B2 (Great, chosen) beside B1
(Bad), C2 (Okay) and C3 (Bad) then the annotator's own step C4, then D1 (Great, chosen: a
final answer) beside D2 (Bad), candidates that arrive under C4 after it was written.
"""

from annotate.models import Membership, Problem, Project, Solution, StepNode
from annotate.selectors.labeling import task_state
from annotate.services import labeling
from annotate.services.queue import next_task

STATEMENT = "What is 6*7?"
OWN_STEP = "C4: 6*7 = 42, written by me."
# (text, rating) in the order walked; None = the annotator's own step (counts as Great).
WALK = [("A1: 6*7 is six sevens.", 0), ("B2: six sevens are 42.", 1), (OWN_STEP, None),
        ("# Answer\n\n42", 1)]
# position -> (text, rating) of the rated candidates not continued from
ALTERNATIVES = {0: [("A2: 6*7 = 13.", -1)], 1: [("B1: six sevens are 41.", -1)],
                2: [("C2: so 6*7 = 42.", 0), ("C3: so 6*7 = 43.", -1)],
                3: [("# Answer\n\n43", -1)]}
KEYS = {1: "1", 0: "2", -1: "3"}


def _node(problem, parent, text, author=StepNode.Author.MODEL):
    return StepNode.objects.create(problem=problem, parent=parent, author=author,
                                   depth=0 if parent is None else parent.depth + 1, text=text)


def make_branch_project(slug="walk", overlap=1) -> Project:
    project = Project.objects.create(name=slug.title(), slug=slug, mode="branch", overlap=overlap,
                                     candidates_per_position=4)
    problem = Problem.objects.create(project=project, statement=STATEMENT, external_id="w1",
                                     ground_truth_answer="42")
    a1 = _node(problem, None, WALK[0][0])
    _node(problem, None, ALTERNATIVES[0][0][0])
    b1 = _node(problem, a1, ALTERNATIVES[1][0][0])
    b2 = _node(problem, a1, WALK[1][0])
    c1 = _node(problem, b1, "C1: so 41.")
    last = _node(problem, c1, "# Answer\n\n41")
    for text, _rating in ALTERNATIVES[2]:
        _node(problem, b2, text)
    Solution.objects.create(project=project, problem=problem, last_step=last,
                            final_answer="41", is_correct=False)
    return project


def final_candidates(project) -> None:
    """What a generator would add under the annotator's own step."""
    own = StepNode.objects.get(problem__project=project, text=OWN_STEP)
    _node(own.problem, own, WALK[3][0])
    _node(own.problem, own, ALTERNATIVES[3][0][0])


def _rate_position(task, user, position: int):
    state = task_state(task)
    for item in state.positions[position].items:
        rating = dict([WALK[position], *ALTERNATIVES[position]])[item.node.text]
        labeling.rate_step(task.pk, user, node_id=item.node.pk, rating=rating)
        task.refresh_from_db()
    return [i.node.text for i in task_state(task).positions[position].items]


def label_walk(project, user):
    """The walk above, by service calls; returns the submitted assignment."""
    Membership.objects.get_or_create(project=project, user=user)
    task = next_task(project, user)
    for position in range(4):
        if position == 3:
            final_candidates(project)
        shown = _rate_position(task, user, position)
        if WALK[position][1] is None:
            labeling.write_step(task.pk, user, position=position, text=OWN_STEP)
        else:
            labeling.choose_candidate(task.pk, user, position=position,
                                      index=shown.index(WALK[position][0]))
        task.refresh_from_db()
    return labeling.finish(task.pk, user, reason="solution")
