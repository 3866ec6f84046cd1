"""The demo, end to end in headless Chromium: log in as the demo annotator, see the demo projects."""

import pytest
from django.core.management import call_command

from annotate.models import Problem, Project, Solution

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_demo_annotator_logs_in_and_sees_demo_projects(live_server, page):
    call_command("seed_demo", problems=3, solutions_per_problem=2)
    assert Project.objects.count() == 2
    assert Problem.objects.filter(project__slug="demo-first-error").count() == 3
    assert Solution.objects.filter(project__slug="demo-first-error").count() >= 3

    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url  # anonymous users are sent to the login page
    page.fill("input[name=username]", "annotator")
    page.fill("input[name=password]", "stepwise-annotator")
    page.keyboard.press("Enter")
    page.wait_for_selector("#project-list")
    names = page.locator("#project-list .project-name").all_inner_texts()
    assert names == ["Demo: arithmetic, branches", "Demo: arithmetic, first error"]


def test_wrong_password_is_refused_with_a_message(live_server, page):
    call_command("seed_demo", problems=1, solutions_per_problem=1)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "annotator")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert "didn't match" in page.inner_text(".error")


def test_seed_demo_is_idempotent(db):
    call_command("seed_demo", problems=2, solutions_per_problem=1)
    counts = (Project.objects.count(), Problem.objects.count(), Solution.objects.count())
    call_command("seed_demo", problems=2, solutions_per_problem=1)
    assert (Project.objects.count(), Problem.objects.count(), Solution.objects.count()) == counts


def test_the_demo_has_candidates_before_its_generator_is_built(db):
    """A new user's first Bad rating, and a branch walk down any candidate, find seeded
    candidates: no generation Run, no wait, while the demo model is still building."""
    from django.contrib.auth import get_user_model

    from annotate.selectors.labeling import task_state
    from annotate.services import labeling
    from annotate.services.queue import next_task
    from workers.models import Run

    call_command("seed_demo", problems=3, solutions_per_problem=2)
    annotator = get_user_model().objects.get(username="annotator")

    task = next_task(Project.objects.get(slug="demo-first-error"), annotator)
    first = task_state(task).current.items[0].node
    state = labeling.rate_step(task.pk, annotator, node_id=first.pk, rating=-1)
    assert len(state.current.items) >= 2 and not state.current.waiting

    task = next_task(Project.objects.get(slug="demo-branch"), annotator)
    state = task_state(task)
    while not state.walk_done:
        pos = state.current
        assert pos.items and not pos.waiting, pos.index
        for item in pos.items:
            state = labeling.rate_step(task.pk, annotator, node_id=item.node.pk, rating=1)
        state = labeling.choose_candidate(task.pk, annotator, position=pos.index,
                                          index=len(pos.items) - 1)
    assert state.suggested_reason == "solution"
    assert not Run.objects.exists()
