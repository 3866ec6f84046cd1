"""Admin pages as a person meets them in Chromium: a project created from the browser, and
pages that run under the Content-Security-Policy without a blocked script."""


import pytest

from annotate.models import Membership, Project

from .browser_helpers import screenshot, sign_in
from .manage_factories import make_project, make_solution

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_new_project_page_shows_its_form_and_creates(live_server, page, make_user):
    make_user("founder", is_staff=True)
    sign_in(page, live_server, "founder")
    page.goto(f"{live_server.url}/manage/new/")
    assert page.is_visible("#project-form input[name=name]")
    assert page.is_visible("#project-form button[type=submit]")
    screenshot(page, "manage-new-project.png")
    page.fill("#project-form input[name=name]", "Browser Made")
    page.click("#project-form button[type=submit]")
    page.wait_for_selector("ul.messages")
    project = Project.objects.get(name="Browser Made")
    assert page.url.endswith(f"/manage/{project.slug}/")
    assert "Project 'Browser Made' created." in page.inner_text("body")
    assert Membership.objects.get(project=project).role == Membership.Role.ADMIN


def test_pages_run_under_the_csp_without_blocked_scripts(live_server, page, make_user):
    admin = make_user("csp-admin")
    project = make_project("csp", admin=admin)
    make_solution(project, n_steps=2)
    violations, missing = [], []
    page.on("console", lambda msg: violations.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    sign_in(page, live_server, "csp-admin")
    for path in ("/", "/manage/", "/manage/csp/", "/manage/csp/dashboard/", "/training/",
                 "/api/docs/"):
        response = page.goto(f"{live_server.url}{path}")
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_load_state("networkidle")
    # The API docs' Swagger UI is a script from our origin: it rendered.
    page.wait_for_selector("#swagger-ui .info")
    # htmx ran on the dashboard (its sections load through htmx).
    page.goto(f"{live_server.url}/manage/csp/dashboard/")
    page.wait_for_selector("#part-labels", state="attached")
    assert violations == []
    assert missing == []  # no /favicon.ico or other asset 404 on any page


def test_model_page_watched_live_offers_search_and_scoring_when_ready(live_server, page,
                                                                      make_user):
    from training.models import PrmModel
    from workers.models import Run

    admin = make_user("prm-watcher")
    project = make_project("prm-live", admin=admin)
    run = Run.objects.create(kind="train_prm", project=project, status=Run.Status.RUNNING,
                             progress_done=1, progress_total=4)
    model = PrmModel.objects.create(project=project, name="live prm", base_model="tiny",
                                    status=PrmModel.Status.TRAINING, run=run)
    sign_in(page, live_server, "prm-watcher")
    page.goto(f"{live_server.url}/training/models/{model.pk}/")
    assert page.inner_text(".prm-status") == "Training"
    assert page.locator("#search-link").count() == 0 and page.locator("#score-button").count() == 0

    # The worker finishes the training.
    Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCEEDED, progress_done=4)
    PrmModel.objects.filter(pk=model.pk).update(status=PrmModel.Status.READY)
    page.wait_for_selector("#search-link")
    assert page.is_visible("#score-button")
    assert page.inner_text(".prm-status") == "Ready"


def test_verify_source_is_set_in_the_settings_form(live_server, page, make_user):
    """The settings form takes a machine source for verify mode and a blind share; a human
    source is refused on the form itself, with its reason, and nothing is saved."""
    admin = make_user("verify-admin")
    project = make_project("verify-form", admin=admin)
    sign_in(page, live_server, "verify-admin")
    page.goto(f"{live_server.url}/manage/{project.slug}/")
    page.fill("#project-form input[name=verify_source]", "human:bob")
    page.fill("#project-form input[name=verify_blind_share]", "0.2")
    page.click("#project-form button[type=submit]")
    page.wait_for_selector("#project-form .error")
    assert "human or gold source" in page.inner_text("#project-form .error")
    assert page.input_value("#project-form input[name=verify_source]") == "human:bob"
    project.refresh_from_db()
    assert project.verify_source == ""
    screenshot(page, "manage-verify-source-refused.png")
    page.fill("#project-form input[name=verify_source]", "judge:demo-judge")
    page.click("#project-form button[type=submit]")
    page.wait_for_selector("ul.messages")
    project.refresh_from_db()
    assert (project.verify_source, project.verify_blind_share) == ("judge:demo-judge", 0.2)
    assert page.input_value("#project-form input[name=verify_source]") == "judge:demo-judge"
