"""Labeling services and views: the walk, saving, undo, choices, own steps, bad input."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Assignment, PreAnnotation, RatingChange, StepNode, StepRating
from annotate.selectors.labeling import task_state
from annotate.services import labeling
from annotate.services.labeling import LabelingError
from annotate.services.queue import next_task
from tests.labeling_factories import add_member, make_project, make_solution

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

STEPS = ["Let $x = 6$.", "Then $7x = 42$.", "So it is 41.", "# Answer\n\n41"]


@pytest.fixture
def first_error(make_user):
    project = make_project("fe", overlap=2, candidates_per_position=3)
    solution = make_solution(project, STEPS, alternatives={2: ["So it is 42.", "Hence 42."]})
    user = add_member(project, make_user("ann"))
    return project, solution, user, next_task(project, user)


def _path_ids(solution):
    node, ids = solution.last_step, []
    while node:
        ids.append(node.pk)
        node = node.parent
    return ids[::-1]


def test_first_error_walk_shows_one_step_at_a_time_then_alternatives(first_error):
    project, solution, user, task = first_error
    path = _path_ids(solution)
    state = task_state(task)
    assert [i.node.pk for i in state.items] == [path[0]] and state.focus_id == path[0]
    labeling.rate_step(task.pk, user, node_id=path[0], rating=1, time_ms=1200)
    state = labeling.rate_step(task.pk, user, node_id=path[1], rating=0)
    assert [i.node.pk for i in state.items] == path[:3]
    state = labeling.rate_step(task.pk, user, node_id=path[2], rating=-1)
    alts = [i.node.text for i in state.positions[-1].items[1:]]
    assert alts == ["So it is 42.", "Hence 42."]  # siblings of the bad step, oldest first
    assert not state.walk_done
    with pytest.raises(LabelingError, match="Rate every shown step"):
        labeling.finish(task.pk, user, reason="found_error")
    for item in state.positions[-1].items[1:]:
        state = labeling.rate_step(task.pk, user, node_id=item.node.pk, rating=1)
    assert state.walk_done and state.suggested_reason == "found_error"
    state = labeling.write_step(task.pk, user, position=2, text="So $7x = 42$ gives 42.")
    human = StepNode.objects.get(text="So $7x = 42$ gives 42.")
    assert human.author == "human" and human.author_user == user and human.parent_id == path[1]
    with pytest.raises(LabelingError, match="found_error"):
        labeling.finish(task.pk, user, reason="solution")
    done = labeling.finish(task.pk, user, reason="found_error")
    assert done.status == "submitted" and done.total_time_ms is not None
    alt_ids = [n.pk for n in StepNode.objects.filter(parent_id=path[1]).exclude(author="human")
               .exclude(pk=path[2]).order_by("id")]
    assert done.presentation == [
        {"candidates": [path[0]], "chosen": 0, "human": None},
        {"candidates": [path[1]], "chosen": 0, "human": None},
        {"candidates": [path[2], *alt_ids], "chosen": None, "human": human.pk},
    ]
    assert StepRating.objects.get(assignment=task, node_id=path[0]).time_spent_ms == 1200
    # A finished task is closed to changes.
    with pytest.raises(LabelingError, match="already submitted") as exc:
        labeling.rate_step(task.pk, user, node_id=path[0], rating=0)
    assert exc.value.status == 409


def test_double_submit_stores_one_rating_and_changes_are_kept(first_error):
    project, solution, user, task = first_error
    first = _path_ids(solution)[0]
    labeling.rate_step(task.pk, user, node_id=first, rating=1)
    labeling.rate_step(task.pk, user, node_id=first, rating=1)
    assert StepRating.objects.filter(assignment=task).count() == 1
    assert RatingChange.objects.filter(rating__assignment=task).count() == 1
    labeling.rate_step(task.pk, user, node_id=first, rating=0)  # change in place
    labeling.toggle_flag(task.pk, user, node_id=first)
    rating = StepRating.objects.get(assignment=task, node_id=first)
    assert (rating.rating, rating.flagged) == (0, True)
    history = list(RatingChange.objects.filter(rating=rating).values_list("old_rating", "new_rating"))
    assert history == [(None, 1), (1, 0), (0, 0)]
    labeling.undo(task.pk, user)  # the flag
    labeling.undo(task.pk, user)  # 0 -> 1
    rating.refresh_from_db()
    assert (rating.rating, rating.flagged) == (1, None)
    labeling.undo(task.pk, user)  # 1 -> unrated
    rating.refresh_from_db()
    assert rating.rating is None
    with pytest.raises(LabelingError, match="Nothing to undo"):
        labeling.undo(task.pk, user)


def test_bad_input_gets_specific_errors_and_saves_nothing(first_error, make_user):
    project, solution, user, task = first_error
    path = _path_ids(solution)
    cases = [
        (dict(node_id=path[0], rating=2), 400, "out of range"),
        (dict(node_id=path[0], rating="x"), 400, "whole number"),
        (dict(node_id=path[3], rating=1), 400, "not part of this task"),  # not shown yet
        (dict(node_id=999999, rating=1), 400, "not part of this task"),
    ]
    for kwargs, status, text in cases:
        with pytest.raises(LabelingError, match=text) as exc:
            labeling.rate_step(task.pk, user, **kwargs)
        assert exc.value.status == status
    intruder = add_member(project, make_user("intruder"))
    with pytest.raises(LabelingError, match="another annotator") as exc:
        labeling.rate_step(task.pk, intruder, node_id=path[0], rating=1)
    assert exc.value.status == 403
    with pytest.raises(LabelingError, match="Unknown finish reason"):
        labeling.finish(task.pk, user, reason="bored")
    with pytest.raises(LabelingError, match="wrong with the problem"):
        labeling.finish(task.pk, user, reason="bad_problem", note="  ")
    assert not StepRating.objects.filter(assignment=task).exists()
    Assignment.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timedelta(1))
    with pytest.raises(LabelingError, match="lease") as exc:
        labeling.rate_step(task.pk, user, node_id=path[0], rating=1)
    assert exc.value.status == 409
    task.refresh_from_db()
    assert task.status == Assignment.Status.EXPIRED


def test_binary_scale_refuses_okay(make_user):
    project = make_project("bin", rating_scale="binary")
    make_solution(project, ["a"])
    user = add_member(project, make_user("b"))
    task = next_task(project, user)
    with pytest.raises(LabelingError, match="use one of -1, 1"):
        labeling.rate_step(task.pk, user, node_id=task.solution.last_step_id, rating=0)


def test_bad_problem_and_give_up(first_error):
    project, solution, user, task = first_error
    done = labeling.finish(task.pk, user, reason="bad_problem", note="The statement is ambiguous.")
    assert (done.finish_reason, done.finish_note) == ("bad_problem", "The statement is ambiguous.")


def test_branch_mode_walk_choose_write_and_finish(make_user):
    project = make_project("br", mode="branch", candidates_per_position=4)
    make_solution(project, ["A1", "B1", "# Answer\n\n42"],
                  alternatives={0: ["A2"], 1: ["B2"]})
    user = add_member(project, make_user("brancher"))
    task = next_task(project, user)
    state = task_state(task)
    a1, a2 = [i.node for i in state.positions[0].items]
    assert (a1.text, a2.text) == ("A1", "A2")
    with pytest.raises(LabelingError, match="Rate every candidate"):
        labeling.choose_candidate(task.pk, user, position=0, index=0)
    labeling.rate_step(task.pk, user, node_id=a1.pk, rating=1)
    labeling.rate_step(task.pk, user, node_id=a2.pk, rating=-1)
    with pytest.raises(LabelingError, match="not a Bad one"):
        labeling.choose_candidate(task.pk, user, position=0, index=1)
    state = labeling.choose_candidate(task.pk, user, position=0, index=0)
    assert [i.node.text for i in state.positions[1].items] == ["B1", "B2"]
    with pytest.raises(LabelingError, match="not the one being labeled"):
        labeling.choose_candidate(task.pk, user, position=0, index=0)
    for item in state.positions[1].items:
        labeling.rate_step(task.pk, user, node_id=item.node.pk, rating=-1)
    # Both bad: write our own step; it continues the walk from there (no candidates yet).
    state = labeling.write_step(task.pk, user, position=1, text="B3 (mine)")
    human = StepNode.objects.get(text="B3 (mine)")
    assert state.positions[1].human.node == human and state.positions[2].waiting
    assert state.presentation[2]["run"] == 0  # no generator configured: asked, none coming
    with pytest.raises(LabelingError, match="final answer"):
        labeling.finish(task.pk, user, reason="solution")
    state = labeling.write_step(task.pk, user, position=2, text="# Answer\n\n42")
    assert state.walk_done and state.suggested_reason == "solution"
    done = labeling.finish(task.pk, user, reason="solution")
    assert [(e["chosen"], e["human"] is not None) for e in done.presentation] == [
        (0, False), (None, True), (None, True)]


def test_hints_are_shown_only_when_enabled_and_never_stored(first_error):
    project, solution, user, task = first_error
    first = _path_ids(solution)[0]
    PreAnnotation.objects.create(node_id=first, kind="prm_score", source="prm-v1", value=0.83)
    assert list(task_state(task).items[0].hints) == []
    project.show_hints = True
    project.save()
    task.refresh_from_db()
    assert [h.value for h in task_state(task).items[0].hints] == [0.83]
    assert not StepRating.objects.exists()


def test_views_permissions_errors_and_page(client, first_error, make_user):
    project, solution, user, task = first_error
    path = _path_ids(solution)
    outsider = make_user("outsider")
    client.force_login(outsider)
    assert client.get(f"/p/{project.slug}/next/").status_code == 403
    resp = client.post(f"/task/{task.pk}/rate/", {"node": path[0], "rating": 1})
    assert resp.status_code == 403 and "another annotator" in resp.content.decode()
    client.force_login(user)
    resp = client.get(f"/p/{project.slug}/next/")
    assert resp.status_code == 302 and resp["Location"] == f"/task/{task.pk}/"
    page = client.get(f"/task/{task.pk}/").content.decode()
    assert "Ground-truth answer" in page and "Let $x = 6$." in page
    assert 'id="keymap"' in page and "Then $7x" not in page  # one step at a time
    resp = client.post(f"/task/{task.pk}/rate/", {"node": path[0], "rating": 5}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 400 and "out of range" in resp.content.decode()
    resp = client.post(f"/task/{task.pk}/rate/", {"node": path[0], "rating": 1}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 200 and "Then $7x = 42$." in resp.content.decode()
    assert client.get(f"/task/{task.pk}/rate/").status_code == 405


def test_model_text_is_escaped(client, make_user):
    project = make_project("xss")
    make_solution(project, ["<img src=x onerror=alert(1)> and $a<b$"],
                  statement="<script>alert('p')</script> Find $x$.")
    user = add_member(project, make_user("x"))
    client.force_login(user)
    task = next_task(project, user)
    page = client.get(f"/task/{task.pk}/").content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert "$a&lt;b$" in page


def test_home_lists_start_button(client, first_error):
    project, solution, user, task = first_error
    client.force_login(user)
    page = client.get("/").content.decode()
    assert f'action="/p/{project.slug}/next/"' in page and "Continue labeling" in page  # holds one
    labeling.finish(task.pk, user, reason="bad_problem", note="typo")
    assert "Start labeling" in client.get("/").content.decode()


def test_no_more_tasks_page(client, make_user):
    project = make_project("empty")
    user = add_member(project, make_user("e"))
    client.force_login(user)
    resp = client.post(f"/p/{project.slug}/next/")
    assert resp.status_code == 200 and "No more tasks" in resp.content.decode()


def test_keymap_in_page_is_the_projects(client, make_user):
    project = make_project("km", keymap={"great": "a", "okay": "s", "bad": "d"})
    make_solution(project, ["a"])
    user = add_member(project, make_user("k"))
    client.force_login(user)
    task = next_task(project, user)
    page = client.get(f"/task/{task.pk}/").content.decode()
    start = page.index('id="keymap"')
    keymap = json.loads(page[page.index(">", start) + 1: page.index("</script>", start)])
    assert (keymap["great"], keymap["okay"], keymap["bad"], keymap["undo"]) == ("a", "s", "d", "u")


def test_waiting_for_candidates_polls_and_never_dead_ends(client, make_user):
    from workers.models import Run

    project = make_project("gen", generator={"model": "/models/tiny-generator"})
    solution = make_solution(project, ["Step one.", "A wrong step."])
    user = add_member(project, make_user("waiter"))
    task = next_task(project, user)
    first, bad = solution.last_step.parent_id, solution.last_step_id
    labeling.rate_step(task.pk, user, node_id=first, rating=1)
    state = labeling.rate_step(task.pk, user, node_id=bad, rating=-1)
    run = Run.objects.get(pk=state.presentation[1]["run"])
    assert run.kind == "generate_candidates" and run.params["parent_id"] == first
    client.force_login(user)
    page = client.get(f"/task/{task.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Waiting for candidates" in page and 'hx-trigger="every 2s"' in page
    assert 'data-can-write="1"' in page  # the annotator can always write their own step
    # A second action does not ask again.
    labeling.toggle_flag(task.pk, user, node_id=bad)
    assert Run.objects.filter(kind="generate_candidates").count() == 1
    # The worker's candidates arrive: the next poll shows them, ready to rate.
    alt = StepNode.objects.create(problem=solution.problem, parent_id=first, depth=1,
                                  text="A right step.", author=StepNode.Author.MODEL)
    page = client.get(f"/task/{task.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "A right step." in page and "every 2s" not in page
    state = labeling.rate_step(task.pk, user, node_id=alt.pk, rating=1)
    assert state.walk_done and state.presentation[1]["candidates"] == [bad, alt.pk]


def test_finished_generation_without_candidates_stops_polling(client, make_user):
    from workers.models import Run

    project = make_project("gen2", generator={"model": "/models/tiny-generator"})
    solution = make_solution(project, ["Only step, wrong."])
    user = add_member(project, make_user("w2"))
    task = next_task(project, user)
    state = labeling.rate_step(task.pk, user, node_id=solution.last_step_id, rating=-1)
    run = Run.objects.filter(pk=state.presentation[0]["run"])
    run.update(status=Run.Status.SUCCEEDED)
    client.force_login(user)
    page = client.get(f"/task/{task.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "No new candidates" in page and "every 2s" not in page
    # A failed run gives the annotator its short reason; the admins' error stays off the page.
    error = "ModelNotFound: No model at /srv/models/tiny\n\nTraceback (most recent call last):"
    run.update(status=Run.Status.FAILED, error=error)
    page = client.get(f"/task/{task.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "The generator could not make candidates. Write your own step" in page
    assert "every 2s" not in page and "/srv/models" not in page and "Traceback" not in page
    run.update(reason="The generator model is not ready yet")
    page = client.get(f"/task/{task.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "The generator model is not ready yet. Write your own step" in page
    assert labeling.finish(task.pk, user, reason="found_error").status == "submitted"


def test_bad_generator_settings_are_reported_not_raised(client, make_user):
    from workers.models import Run

    project = make_project("gen3", generator={"model": "/models/x", "temperature": 99})
    solution = make_solution(project, ["Only step, wrong."])
    user = add_member(project, make_user("w3"))
    task = next_task(project, user)
    state = labeling.rate_step(task.pk, user, node_id=solution.last_step_id, rating=-1)
    assert state.presentation[0]["run"] == 0 and not Run.objects.exists()
    assert StepRating.objects.get(assignment=task).rating == -1  # the rating is kept
    client.force_login(user)
    page = client.get(f"/task/{task.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Candidates could not be requested: temperature must be in [0, 5]" in page
    assert 'data-can-write="1"' in page


def test_give_up_and_skip_through_the_views_go_to_the_next_task(client, make_user):
    project = make_project("gs", mode="branch")
    make_solution(project, ["first"])
    make_solution(project, ["second"])
    make_solution(project, ["third"])
    user = add_member(project, make_user("quitter"))
    client.force_login(user)
    first = next_task(project, user)
    resp = client.post(f"/task/{first.pk}/finish/", {"reason": "give_up"}, HTTP_HX_REQUEST="true")
    second = next_task(project, user)  # finishing took the next task at once
    assert resp.status_code == 204 and resp["HX-Redirect"] == f"/task/{second.pk}/"
    first.refresh_from_db()
    assert (first.status, first.finish_reason) == ("submitted", "give_up")
    assert second.solution_id != first.solution_id
    resp = client.post(f"/task/{second.pk}/skip/")
    assert resp.status_code == 302
    second.refresh_from_db()
    assert second.status == "skipped"
    resp = client.post(f"/task/{second.pk}/skip/")
    assert resp.status_code == 409 and "no longer active" in resp.content.decode()
    third = next_task(project, user)
    assert third.solution_id not in (first.solution_id, second.solution_id)
