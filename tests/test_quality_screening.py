"""Screening gates a new annotator: gold items only until they pass; admins see the results."""

import pytest
from django.urls import reverse
from django.utils import timezone

from annotate.models import Assignment, GoldLabel, StepRating

from .manage_factories import add, make_project, make_solution, path_of

pytestmark = [pytest.mark.django_db]


def _gold(project, tag, key):
    s = make_solution(project, n_steps=len(key), tag=tag, gold=True)
    for node, rating in zip(path_of(s), key):
        GoldLabel.objects.create(solution=s, node=node, rating=rating, source="test")
    return s


def _submit(assignment, ratings):
    for node, rating in zip(path_of(assignment.solution), ratings):
        StepRating.objects.create(assignment=assignment, node=node, rating=rating)
    assignment.status = Assignment.Status.SUBMITTED
    assignment.finished_at = timezone.now()
    assignment.save()


@pytest.fixture
def screened(make_user):
    admin = make_user("admin")
    project = make_project("screen", admin=admin, screening_items=2, screening_threshold=0.75,
                           overlap=3)
    for i in range(3):
        _gold(project, f"g{i}", [1, 1, -1, 0])
    for i in range(3):
        make_solution(project, n_steps=2, tag=f"prod{i}")
    return project, admin


def test_no_screening_means_passed(make_user, screened):
    from quality.selectors import has_passed_screening

    project = make_project("noscreen")
    assert has_passed_screening(project, make_user("fresh"))
    # Admins and reviewers write the keys; they are not screened.
    screening_project, admin = screened
    reviewer = make_user("reviewer")
    add(screening_project, reviewer, "reviewer")
    assert has_passed_screening(screening_project, admin)
    assert has_passed_screening(screening_project, reviewer)
    assert not has_passed_screening(screening_project, make_user("newcomer"))


def test_screening_gates_production_tasks(screened, make_user, client):
    from annotate.services.queue import next_task
    from quality.selectors import has_passed_screening, screening_status

    project, admin = screened
    good, bad = make_user("good"), make_user("bad")
    add(project, good)
    add(project, bad)

    for _ in range(2):
        task = next_task(project, good)
        assert task.solution.is_gold, "an unscreened annotator got a production task"
        assert not has_passed_screening(project, good)
        # Great vs Okay on a correct step is not a miss; the Bad step is found.
        _submit(task, [0, 1, -1, 1])
    assert screening_status(project, good).state == "passed"
    task = next_task(project, good)
    assert task is not None and not task.solution.is_gold

    for _ in range(2):
        task = next_task(project, bad)
        assert task.solution.is_gold
        _submit(task, [-1, 1, 1, 1])  # two of four steps match the key: 50%
    status = screening_status(project, bad)
    assert (status.state, status.done, status.accuracy) == ("failed", 2, 0.5)
    assert not has_passed_screening(project, bad)
    task = next_task(project, bad)
    assert task is None or task.solution.is_gold

    client.force_login(admin)
    page = client.get(reverse("manage:screening", args=[project.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-user="good"' in html and "passed" in html and "failed" in html and "50.0%" in html
    assert 'id="too-few-gold"' not in html
    project.screening_items = 5
    project.save()
    html = client.get(reverse("manage:screening", args=[project.slug])).content.decode()
    assert 'id="too-few-gold"' in html
