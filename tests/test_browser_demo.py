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
