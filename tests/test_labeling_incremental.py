"""A first-error action re-derives the walk only from its first changed step on
(``task_state(before=..., changed=...)``): the state it answers with and the presentation it
stores must be exactly what a full derivation from the database gives, for every action that
changes ratings (a rating at the end, in the middle, a Bad that hides later steps, a flag,
an undo, a section rating)."""

import pytest

from annotate.models import Assignment, StepGroup, StepRating
from annotate.selectors.labeling import path_and_ratings, task_state
from annotate.services import group_rating, labeling
from tests.labeling_factories import add_member, make_project
from tests.trace_factories import make_trace_solution

pytestmark = pytest.mark.django_db


def _shape(state) -> tuple:
    return (
        [(p.index, p.parent_id, p.bad, p.chosen, p.waiting,
          [(i.node.pk, i.rating, i.flagged, i.role, i.chosen) for i in p.items])
         for p in state.positions],
        state.presentation, state.walk_done, state.suggested_reason,
    )


def _full(assignment_id: int):
    fresh = labeling.load_for_user(assignment_id, Assignment.objects.get(pk=assignment_id).annotator)
    return task_state(fresh)


def _check(state, assignment_id: int) -> None:
    full = _full(assignment_id)
    assert _shape(state) == _shape(full)
    assert Assignment.objects.get(pk=assignment_id).presentation == full.presentation


def test_each_action_answers_with_the_full_derivation(make_user):
    project = make_project("incr", overlap=1, lease_seconds=3600)
    solution = make_trace_solution(project, 40)
    user = add_member(project, make_user("ann-incr"))
    assignment = Assignment.objects.create(project=project, solution=solution, annotator=user)
    path, _ = path_and_ratings(solution, assignment)
    nodes = [n.pk for n in path]
    StepRating.objects.bulk_create(StepRating(assignment=assignment, node_id=n, rating=1)
                                   for n in nodes[:30])
    a = assignment.pk

    state = labeling.rate_step(a, user, node_id=nodes[30], rating=1)  # at the end of the walk
    assert len(state.positions) == 32
    _check(state, a)
    state = labeling.rate_step(a, user, node_id=nodes[12], rating=0)  # in the middle
    assert state.positions[12].items[0].rating == 0 and len(state.positions) == 32
    _check(state, a)
    state = labeling.toggle_flag(a, user, node_id=nodes[5])
    assert state.positions[5].items[0].flagged is True
    _check(state, a)
    state = labeling.rate_step(a, user, node_id=nodes[20], rating=-1)  # hides 11 steps
    assert len(state.positions) == 21 and state.positions[20].bad
    _check(state, a)
    state = labeling.undo(a, user)  # the Bad goes back to Great: the steps return
    assert len(state.positions) == 32 and not state.positions[20].bad
    _check(state, a)
    group = StepGroup.objects.filter(solution=solution).order_by("index").first()
    state = group_rating.rate_group(a, user, group_id=group.pk, rating=0)
    assert all(state.positions[i].items[0].rating == 0 for i in range(group.start, group.end))
    _check(state, a)
    # One undo press takes the whole section back (one batch), then redo it.
    state = labeling.undo(a, user)
    assert all(state.positions[i].items[0].rating == 1 for i in range(group.start, group.end)
               if i != 12)
    _check(state, a)
    state = group_rating.rate_group(a, user, group_id=group.pk, rating=0)
    _check(state, a)
    state = labeling.rate_step(a, user, node_id=nodes[0], rating=-1)  # the first step Bad
    assert len(state.positions) == 1 and state.suggested_reason == "found_error"
    _check(state, a)


def test_a_save_writes_the_presentation_whatever_the_row_held(make_user):
    """A save sends only the presentation's changed tail (PostgreSQL keeps the entries
    before it): a row that held something else at the start, in the middle or beyond the
    end (written before an earlier change, or not at all) still ends as the derivation."""
    project = make_project("incr-tail", overlap=1, lease_seconds=3600)
    solution = make_trace_solution(project, 30)
    user = add_member(project, make_user("ann-tail"))
    assignment = Assignment.objects.create(project=project, solution=solution, annotator=user)
    path, _ = path_and_ratings(solution, assignment)
    nodes = [n.pk for n in path]
    StepRating.objects.bulk_create(StepRating(assignment=assignment, node_id=n, rating=1)
                                   for n in nodes[:20])
    a = assignment.pk
    _check(labeling.rate_step(a, user, node_id=nodes[20], rating=1), a)  # from an empty row
    stored = Assignment.objects.get(pk=a).presentation
    odd = {"candidates": [nodes[3], nodes[4]], "chosen": None, "human": None, "run": 0}
    for tampered in ([*stored[:3], odd, *stored[4:]], [odd, *stored[1:]],
                     [*stored, odd, odd], stored[:10]):
        Assignment.objects.filter(pk=a).update(presentation=tampered)
        _check(labeling.toggle_flag(a, user, node_id=nodes[2]), a)
    # The same state again (a flag pressed twice leaves it as it was): the row keeps it.
    before = Assignment.objects.get(pk=a).presentation
    labeling.toggle_flag(a, user, node_id=nodes[21])
    _check(labeling.toggle_flag(a, user, node_id=nodes[21]), a)
    assert Assignment.objects.get(pk=a).presentation == before
