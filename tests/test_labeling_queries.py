"""Query counts of the annotator's hot requests, pinned: every key press is a label save, and
50 annotators share the server's cores, so one more query per request shows up in the
label-save p99 (docs/performance.md). A change that adds one should fail here first.

Counts are through the test client with database sessions (one query more than with the
Redis session cache that production uses), inside the test transaction (savepoints stand
in for BEGIN/COMMIT, one statement each).
"""

import re

import pytest
from django.db import connection
from django.utils import timezone

from annotate.models import Assignment, RatingChange, StepRating
from annotate.services.queue import next_task
from tests.labeling_factories import add_member, make_project, make_solution

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

STEPS = ["Let $x = 6$.", "Then $7x = 42$.", "So it is 41.", "# Answer\n\n41"]
HTMX = {"HTTP_HX_REQUEST": "true"}

# session, user, project with the role, held task + lapsed leases, low-water mark (which also
# says whether any solution is to be served first: a certification's sample,
# annotate.services.blind), BEGIN, claim window, holders, INSERT, COMMIT
NEXT_TASK = 10
# session, user, assignment + project + solution, path + ratings
TASK_PANEL = 4
# session, user, BEGIN, locked assignment, path + ratings, the rating, its change and the
# presentation and lease in one statement (annotate/services/rating_write.py), COMMIT; on
# SQLite those writes are three statements
LABEL_SAVE = 7 if connection.vendor == "postgresql" else 9
# session, user, BEGIN, locked assignment, path + ratings, UPDATE, COMMIT, tasks done;
# then the next task is taken in the same request (the old flow made a second request)
FINISH = 8


@pytest.fixture
def annotator(client, make_user):
    project = make_project("hot", overlap=1)
    for _ in range(3):
        make_solution(project, STEPS)
    user = add_member(project, make_user("ann"))
    client.force_login(user)
    return project, user


def _task_id(resp) -> int:
    return int(resp["HX-Redirect"].rstrip("/").split("/")[-1])


def _nodes(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-node="(\d+)"', html)]


def test_one_annotator_cycle_query_counts(client, annotator, django_assert_num_queries,
                                          django_assert_max_num_queries):
    project, user = annotator
    with django_assert_max_num_queries(NEXT_TASK):
        resp = client.post(f"/p/{project.slug}/next/", **HTMX)
    assert resp.status_code == 204
    task_id = _task_id(resp)
    with django_assert_num_queries(TASK_PANEL):
        resp = client.get(f"/task/{task_id}/", **HTMX)
    assert resp.status_code == 200
    node = _nodes(resp.content.decode())[0]
    for i in range(len(STEPS)):
        with django_assert_num_queries(LABEL_SAVE):
            resp = client.post(f"/task/{task_id}/rate/", {"node": node + i, "rating": 1, "ms": 900},
                               **HTMX)
        assert resp.status_code == 200, resp.content
    # The finish and the next task of the next cycle (low-water mark fresh in the cache), in
    # one request: no second session and user lookup.
    with django_assert_max_num_queries(FINISH + NEXT_TASK - 3):
        resp = client.post(f"/task/{task_id}/finish/", {"reason": "solution"}, **HTMX)
    assert resp.status_code == 204
    assert Assignment.objects.get(pk=task_id).status == Assignment.Status.SUBMITTED
    assert StepRating.objects.filter(assignment_id=task_id).count() == len(STEPS)
    assert _task_id(resp) != task_id


def test_held_task_on_reload_is_cheap(client, annotator, django_assert_max_num_queries):
    project, user = annotator
    held = next_task(project, user)
    # session, user, project with the role, held task
    with django_assert_max_num_queries(4):
        resp = client.get(f"/p/{project.slug}/next/", **HTMX)
    assert _task_id(resp) == held.pk


def test_changing_a_rating_updates_it_in_place_and_keeps_history(client, annotator,
                                                                  django_assert_num_queries):
    project, user = annotator
    task = next_task(project, user)
    node = task.solution.last_step.parent.parent.parent_id  # the first step
    client.post(f"/task/{task.pk}/rate/", {"node": node, "rating": 1, "ms": 500}, **HTMX)
    before = StepRating.objects.get(assignment=task, node_id=node)
    # The same as a save, with an UPDATE of the rating in place of the INSERT.
    with django_assert_num_queries(LABEL_SAVE):
        resp = client.post(f"/task/{task.pk}/rate/", {"node": node, "rating": 0, "ms": 300},
                           **HTMX)
    assert resp.status_code == 200
    after = StepRating.objects.get(assignment=task, node_id=node)
    assert (after.pk, after.rating, after.time_spent_ms) == (before.pk, 0, 800)
    assert after.updated > before.updated and after.created == before.created
    changes = RatingChange.objects.filter(rating=after).order_by("id")
    assert [(c.old_rating, c.new_rating) for c in changes] == [(None, 1), (1, 0)]
    # The same rating again: nothing changes, nothing is recorded.
    client.post(f"/task/{task.pk}/rate/", {"node": node, "rating": 0}, **HTMX)
    assert RatingChange.objects.filter(rating=after).count() == 2


def test_panel_links_the_task_actions(client, annotator):
    project, user = annotator
    task = next_task(project, user)
    html = client.get(f"/task/{task.pk}/", **HTMX).content.decode()
    for action in ("rate", "flag", "undo", "choose", "finish"):
        assert f'data-{action}-url="/task/{task.pk}/{action}/"' in html
    assert f'data-assignment="{task.pk}"' in html


def test_next_task_needs_an_active_project_and_membership(client, annotator, make_user):
    project, user = annotator
    assert client.get("/p/no-such-project/next/").status_code == 404
    outsider = make_user("outsider")
    client.force_login(outsider)
    resp = client.get(f"/p/{project.slug}/next/")
    assert resp.status_code == 403 and "not a member" in resp.content.decode()
    admin = make_user("root", is_superuser=True)  # superusers act as admins everywhere
    client.force_login(admin)
    assert client.post(f"/p/{project.slug}/next/", **HTMX).status_code == 204
    project.archived_at = timezone.now()
    project.save()
    client.force_login(user)
    assert client.get(f"/p/{project.slug}/next/").status_code == 404
