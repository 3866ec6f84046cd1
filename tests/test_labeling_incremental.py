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


def _trace_task(make_user, slug: str, *, steps: int, rated: int):
    """A trace task of ``steps`` steps with the first ``rated`` rated Great: (solution,
    annotator, assignment id, the path's node ids)."""
    project = make_project(slug, overlap=1, lease_seconds=3600)
    solution = make_trace_solution(project, steps)
    user = add_member(project, make_user(f"ann-{slug}"))
    assignment = Assignment.objects.create(project=project, solution=solution, annotator=user)
    path, _ = path_and_ratings(solution, assignment)
    nodes = [n.pk for n in path]
    StepRating.objects.bulk_create(StepRating(assignment=assignment, node_id=n, rating=1)
                                   for n in nodes[:rated])
    return solution, user, assignment.pk, nodes


def test_each_action_answers_with_the_full_derivation(make_user):
    solution, user, a, nodes = _trace_task(make_user, "incr", steps=40, rated=30)

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
    _solution, user, a, nodes = _trace_task(make_user, "incr-tail", steps=30, rated=20)
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


@pytest.mark.parametrize("cap", [1000, 10])
def test_the_path_and_ratings_past_the_problem_read_cap(make_user, monkeypatch, cap):
    """A problem with more steps than a request reads at once is walked in the database: the
    same path and ratings either way."""
    from annotate.selectors import labeling as selectors

    project = make_project(f"incr-cap-{cap}", overlap=1, lease_seconds=3600)
    solution = make_trace_solution(project, 25)
    user = add_member(project, make_user(f"ann-cap-{cap}"))
    assignment = Assignment.objects.create(project=project, solution=solution, annotator=user)
    full_path = selectors.solution_path(solution)
    StepRating.objects.bulk_create(
        StepRating(assignment=assignment, node_id=n.pk, rating=(1, 0, -1)[i % 3], flagged=i == 4)
        for i, n in enumerate(full_path[:12]))
    monkeypatch.setattr(selectors, "PROBLEM_READ_CAP", cap)
    path, ratings = selectors.path_and_ratings(solution, assignment)
    assert [n.pk for n in path] == [n.pk for n in full_path]
    assert [n.text for n in path] == [n.text for n in full_path]
    assert {k: (r.rating, r.flagged, r.assignment_id) for k, r in ratings.items()} == {
        n.pk: ((1, 0, -1)[i % 3], i == 4, assignment.pk) for i, n in enumerate(full_path[:12])}


@pytest.mark.parametrize("spec", ["judge:j", "mc_hard", "prm:m@0.5"])
def test_verdicts_read_with_the_steps_are_the_readers(make_user, spec):
    """On PostgreSQL a verify task's save reads its source's verdicts with its steps and
    ratings (``verdict_rows``): the same verdicts ``verdicts_for`` gives, with its precedence
    (this solution's label over the problem-wide one, the newest row), on every step."""
    from datetime import timedelta

    from django.utils import timezone

    from annotate.models import PreAnnotation
    from annotate.selectors.verdicts import verdicts_for

    project = make_project(f"incr-v-{spec[:5]}", overlap=1, lease_seconds=3600, verify_source=spec)
    solution = make_trace_solution(project, 8)
    user = add_member(project, make_user(f"ann-v-{spec[:5]}"))
    assignment = Assignment.objects.create(project=project, solution=solution, annotator=user,
                                           shown_source=spec)
    path, _ = path_and_ratings(solution, Assignment.objects.get(pk=assignment.pk))
    kind, source = {"judge:j": ("judge", "j"), "mc_hard": ("mc_hard", ""),
                    "prm:m@0.5": ("prm_score", "m")}[spec]
    now = timezone.now()
    for i, node in enumerate(path[:6]):
        for scope, name, value, age in ((0, source, 0.9, 3), (solution.pk, source, 0.2, 2),
                                         (0, source or "other", 0.1, 1)):
            if i % 3 == 0 and scope:
                continue  # only problem-wide labels on these steps
            PreAnnotation.objects.update_or_create(
                node=node, kind=kind, source=name, scope=scope,
                defaults=dict(value=value, rating=(1 if value >= 0.5 else -1) if kind == "judge"
                              else None, reason=f"r{i}-{scope}", provenance={"agreement": 0.8}))
            PreAnnotation.objects.filter(node=node, kind=kind, source=name, scope=scope).update(
                created=now - timedelta(minutes=age))
    fresh = Assignment.objects.select_related("project").get(pk=assignment.pk)
    path_and_ratings(solution, fresh)
    rows, convert, asked = fresh.read_verdicts
    folded = {node: convert(*columns) for node, columns in rows.items()}
    assert asked >= {n.pk for n in path}
    assert folded == verdicts_for(spec, solution.pk, [n.pk for n in path])
    assert len(folded) == 6
