"""A rating, flag or undo answers with only what changed (out-of-band parts), the same size
at 5 and 362 steps; the long-trace page's rail and sections; rating a section at once."""

import re

import pytest

from annotate.models import RatingChange, StepGroup, StepRating
from tests.labeling_factories import add_member, make_project, make_solution
from tests.trace_factories import make_trace_solution

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _task(client, project, user) -> int:
    client.force_login(user)
    resp = client.post(f"/p/{project.slug}/next/", **HTMX)
    assert resp.status_code == 204, resp.content
    return int(resp["HX-Redirect"].rstrip("/").split("/")[-1])


def _setup(client, make_user, slug, steps, **fields):
    project = make_project(slug, overlap=1, **fields)
    solution = make_trace_solution(project, steps)
    user = add_member(project, make_user(f"ann-{slug}"))
    return project, solution, _task(client, project, user)


def _nodes(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-node="(\d+)"', html)]


def _shape(content: bytes) -> str:
    return re.sub(r"\d+", "0", content.decode())


def test_rate_answer_is_the_same_size_at_5_and_362_steps(client, make_user):
    answers = {}
    for steps in (5, 362):
        project, solution, task = _setup(client, make_user, f"s{steps}", steps)
        page = client.get(f"/task/{task}/").content.decode()
        assert page.count('class="rail-cell') == steps
        first = _nodes(page)[0]
        resp = client.post(f"/task/{task}/rate/", {"node": first, "rating": 1, "ms": 5}, **HTMX)
        assert resp.status_code == 200, resp.content
        assert resp["HX-Reswap"] == "none"
        body = resp.content.decode()
        # The rated step re-rendered in place, the next one appended, their rail cells.
        assert 'id="pos-0" hx-swap-oob="true"' in body
        assert 'hx-swap-oob="beforeend:#positions"' in body and 'id="pos-1"' in body
        assert 'id="rail-0"' in body and "great" in body and 'id="rail-1"' in body
        assert 'id="progress" hx-swap-oob="true"' in body and 'id="next-hint"' in body
        assert body.count('class="rail-cell') == 2  # never the whole rail
        answers[steps] = resp
    assert len(answers[5].content) > 0
    assert _shape(answers[5].content) == _shape(answers[362].content)
    # Within a few bytes: only the digits of ids and counts differ.
    assert abs(len(answers[5].content) - len(answers[362].content)) < 64


def test_flag_and_undo_answer_in_parts(client, make_user):
    project, solution, task = _setup(client, make_user, "undo", 40)
    first = _nodes(client.get(f"/task/{task}/").content.decode())[0]
    client.post(f"/task/{task}/rate/", {"node": first, "rating": 1}, **HTMX)
    resp = client.post(f"/task/{task}/flag/", {"node": first}, **HTMX)
    assert resp["HX-Reswap"] == "none"
    assert "flag-badge" in resp.content.decode() and "flagged" in resp.content.decode()
    resp = client.post(f"/task/{task}/undo/", **HTMX)  # the flag
    resp = client.post(f"/task/{task}/undo/", **HTMX)  # the rating: step 2 goes away
    body = resp.content.decode()
    assert resp["HX-Reswap"] == "none"
    assert '<div id="pos-1" hx-swap-oob="delete">' in body
    assert 'id="rail-1"' in body and 'data-state="hidden"' in body
    assert StepRating.objects.get(assignment_id=task, node_id=first).rating is None


def test_rating_earlier_step_bad_hides_many_steps_with_a_full_panel(client, make_user):
    project, solution, task = _setup(client, make_user, "wide", 30)
    node = _nodes(client.get(f"/task/{task}/").content.decode())[0]
    group = StepGroup.objects.filter(solution=solution).order_by("index")[1]
    for g in StepGroup.objects.filter(solution=solution, index__lte=1).order_by("index"):
        client.post(f"/task/{task}/rate-group/", {"group": g.pk, "rating": 1}, **HTMX)
    assert StepRating.objects.filter(assignment_id=task, rating=1).count() == group.end
    resp = client.post(f"/task/{task}/rate/", {"node": node, "rating": -1}, **HTMX)
    assert resp.status_code == 200
    assert "HX-Reswap" not in resp  # the whole panel: the walk now ends at step 1
    assert resp.content.decode().lstrip().startswith("<section id=\"task\"")


def test_rate_a_section_at_once(client, make_user):
    project, solution, task = _setup(client, make_user, "group", 362)
    groups = list(StepGroup.objects.filter(solution=solution).order_by("index"))
    page = client.get(f"/task/{task}/").content.decode()
    assert groups[0].title in page and 'id="group-' in page
    before = RatingChange.objects.filter(rating__assignment_id=task).count()
    resp = client.post(f"/task/{task}/rate-group/", {"group": groups[0].pk, "rating": 1}, **HTMX)
    assert resp.status_code == 200, resp.content
    body = resp.content.decode()
    assert resp["HX-Reswap"] == "none"
    size = groups[0].end - groups[0].start
    assert StepRating.objects.filter(assignment_id=task, rating=1).count() == size
    assert RatingChange.objects.filter(rating__assignment_id=task).count() == before + size
    # Every step of the section re-rendered, the next section's first step appended.
    for i in range(size + 1):
        assert f'id="pos-{i}"' in body
    assert groups[1].title in body
    # A section the walk has not reached, another solution's section, a bad rating.
    resp = client.post(f"/task/{task}/rate-group/", {"group": groups[5].pk, "rating": 1}, **HTMX)
    assert resp.status_code == 409 and "not reached" in resp.content.decode()
    other = make_trace_solution(project, 5)
    foreign = StepGroup.objects.filter(solution=other).first()
    resp = client.post(f"/task/{task}/rate-group/", {"group": foreign.pk, "rating": 1}, **HTMX)
    assert resp.status_code == 404 and "not part of this task" in resp.content.decode()
    resp = client.post(f"/task/{task}/rate-group/", {"group": groups[1].pk, "rating": 7}, **HTMX)
    assert resp.status_code == 400 and "out of range" in resp.content.decode()
    resp = client.post(f"/task/{task}/rate-group/", {"group": "x", "rating": 1}, **HTMX)
    assert resp.status_code == 400 and "whole number" in resp.content.decode()


def test_section_rating_is_refused_in_branch_mode(client, make_user):
    project, solution, task = _setup(client, make_user, "branchg", 5, mode="branch")
    group = StepGroup.objects.filter(solution=solution).first()
    resp = client.post(f"/task/{task}/rate-group/", {"group": group.pk, "rating": 1}, **HTMX)
    assert resp.status_code == 400 and "first-error mode" in resp.content.decode()


def test_short_solution_keeps_the_plain_page(client, make_user):
    project = make_project("short", overlap=1)
    make_solution(project, ["Let $x = 6$.", "Then $7x = 42$.", "So it is 41.", "# Answer\n\n41"])
    user = add_member(project, make_user("ann-short"))
    task = _task(client, project, user)
    page = client.get(f"/task/{task}/").content.decode()
    assert 'class="rail' not in page and "long-trace" not in page
    node = _nodes(page)[0]
    resp = client.post(f"/task/{task}/rate/", {"node": node, "rating": 1}, **HTMX)
    assert resp["HX-Reswap"] == "none" and "rail-cell" not in resp.content.decode()


def test_resume_of_a_fully_shown_trace_renders_every_step(client, make_user):
    project, solution, task = _setup(client, make_user, "resume", 362)
    for g in StepGroup.objects.filter(solution=solution).order_by("index"):
        resp = client.post(f"/task/{task}/rate-group/", {"group": g.pk, "rating": 1}, **HTMX)
        assert resp.status_code == 200, resp.content
    page = client.get(f"/task/{task}/").content.decode()
    assert page.count('data-state="great"') == 362
    assert 'id="submit-btn"' in page


@pytest.mark.portable
def test_new_long_trace_keys_yield_to_a_projects_own_keys():
    from django.core.exceptions import ValidationError

    from annotate.models.projects import merged_keymap, validate_keymap

    # A project that bound "n" to next before the long-trace keys existed keeps it.
    merged = merged_keymap({"next": "n"})
    assert merged["next"] == "n" and "next_unrated" not in merged
    validate_keymap({"next": "n"})
    assert merged_keymap({})["next_unrated"] == "n"
    # Collisions are refused as before: two own keys, or a new action on an old default.
    for bad in ({"great": "g", "bad": "g"}, {"next_unrated": "j"}, {"group_bad": "w"}):
        with pytest.raises(ValidationError):
            validate_keymap(bad)
