"""The rules behind the labeling page, without a browser: the answer rule for own steps,
carried-over branch ratings, built-in keys, and task assignment by POST only."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from annotate.models import Assignment, Problem, Solution, StepNode
from annotate.models.projects import validate_keymap
from annotate.selectors.labeling import task_state
from annotate.services import labeling
from annotate.services.queue import next_task
from tests.labeling_factories import add_member, make_project, make_solution

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


@pytest.mark.parametrize("text, saved", [
    ("Answer: 23", "# Answer: 23"),
    ("So we get 23.\nanswer = 23", "So we get 23.\n# Answer: 23"),
    ("Final answer: $3R^2$", "# Answer: $3R^2$"),
    ("# Answer: 24", "# Answer: 24"),
    ("The answer is not here yet.", "The answer is not here yet."),
])
def test_own_answer_lines_are_saved_in_the_marked_form(text, saved):
    assert labeling.mark_final_answer(text) == saved


@pytest.mark.parametrize("keymap", [{"flag": "w"}, {"undo": "Escape"}, {"next": "Tab"}])
def test_keymap_refuses_built_in_keys(keymap):
    with pytest.raises(ValidationError, match="built in"):
        validate_keymap(keymap)


def _branch_problem(project):
    problem = Problem.objects.create(project=project, statement="4*6?", ground_truth_answer="24")
    roots = [StepNode.objects.create(problem=problem, parent=None, depth=0, text=t)
             for t in ("4*6 = 24.", "4*6 = 25.")]
    solutions = []
    for root, answer in zip(roots, ("# Answer: 24", "# Answer: 25")):
        leaf = StepNode.objects.create(problem=problem, parent=root, depth=1, text=answer)
        solutions.append(Solution.objects.create(project=project, problem=problem, last_step=leaf))
    return roots, solutions


def test_own_answer_step_ends_a_branch_walk(make_user):
    project = make_project("ans", mode="branch", candidates_per_position=3)
    roots, _ = _branch_problem(project)
    user = add_member(project, make_user("a"))
    task = next_task(project, user)
    for root in roots:
        labeling.rate_step(task.pk, user, node_id=root.pk, rating=1)
    labeling.choose_candidate(task.pk, user, position=0, index=0)
    state = labeling.write_step(task.pk, user, position=1, text="Answer: 23")
    assert state.walk_done and state.suggested_reason == "solution"
    assert state.positions[1].human.node.text == "# Answer: 23"


def test_branch_ratings_of_identical_steps_carry_over(make_user):
    project = make_project("carry", mode="branch", candidates_per_position=3, overlap=2)
    roots, _ = _branch_problem(project)
    user = add_member(project, make_user("c"))
    other = add_member(project, make_user("other"))
    first = next_task(project, user)
    labeling.rate_step(first.pk, user, node_id=roots[0].pk, rating=1)
    labeling.toggle_flag(first.pk, user, node_id=roots[0].pk)
    labeling.rate_step(first.pk, user, node_id=roots[1].pk, rating=-1)
    labeling.finish(first.pk, user, reason="give_up")
    # Someone else's ratings are never carried over to them.
    theirs = next_task(project, other)
    labeling.carry_over_for_task(theirs, other)
    assert [i.rating for i in task_state(theirs).items] == [None, None]
    second = next_task(project, user)
    assert second.solution_id != first.solution_id
    labeling.carry_over_for_task(second, user)
    second.refresh_from_db()
    items = task_state(second).items
    assert [(i.rating, bool(i.flagged)) for i in items] == [(1, True), (-1, False)]
    # Carried ratings are not the annotator's presses: undo has nothing to take back.
    with pytest.raises(labeling.LabelingError, match="Nothing to undo"):
        labeling.undo(second.pk, user)


def test_get_never_assigns_and_post_needs_the_csrf_token(make_user):
    project = make_project("csrf")
    make_solution(project, ["Let x = 6.", "# Answer: 42"])
    user = add_member(project, make_user("u"))
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get(f"/p/{project.slug}/next/")
    assert page.status_code == 200 and 'id="start-task"' in page.content.decode()
    assert browser.post(f"/p/{project.slug}/next/").status_code == 403
    assert not Assignment.objects.exists()
    token = page.cookies["csrftoken"].value
    resp = browser.post(f"/p/{project.slug}/next/", {"csrfmiddlewaretoken": token})
    task = Assignment.objects.get(annotator=user)
    assert resp.status_code == 302 and resp["Location"] == f"/task/{task.pk}/"
    resp = browser.get(f"/p/{project.slug}/next/")  # held: shown again, nothing new taken
    assert resp["Location"] == f"/task/{task.pk}/" and Assignment.objects.count() == 1
