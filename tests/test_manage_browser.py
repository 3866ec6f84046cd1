"""The admin pages in headless Chromium: htmx sections, the Markdown preview, and a browser
upload whose progress bar polls the real worker's import run until the report shows."""

import pytest

from annotate.models import Membership, Problem

from .browser_helpers import sign_in
from .manage_factories import add, make_project, make_solution, rate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.worker
def test_admin_dashboard_preview_and_import(live_server, page, make_user, celery_worker,
                                            shared_data):
    admin, a, b = make_user("boss"), make_user("ann1"), make_user("ann2")
    project = make_project("browser-qc", admin=admin, overlap=2, name="Browser QC")
    add(project, a)
    add(project, b, Membership.Role.ANNOTATOR)
    s = make_solution(project, n_steps=3)
    rate(s, a, [1, 1, -1])
    rate(s, b, [1, 0, -1])

    sign_in(page, live_server, "boss")
    page.click("#nav-manage")
    page.wait_for_selector('#managed-projects tr[data-project="browser-qc"]')
    page.goto(f"{live_server.url}/manage/browser-qc/dashboard/")
    # Sections arrive through htmx after the page loads.
    page.wait_for_selector("#part-labels svg.chart")
    page.wait_for_selector("#part-agreement svg.chart")
    assert "great (+1)" in page.inner_text("#part-labels")

    page.goto(f"{live_server.url}/manage/browser-qc/")
    page.fill("textarea[name=instructions]", "Check **every** step")
    page.click("text=Preview")
    page.wait_for_selector("#instructions-preview strong")
    assert page.inner_text("#instructions-preview strong") == "every"

    page.goto(f"{live_server.url}/manage/browser-qc/import/")
    page.set_input_files("input[name=file]", str(shared_data / "prm800k/phase2_sample.jsonl"))
    page.select_option("select[name=fmt]", "prm800k")
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-report", timeout=120_000)
    created = int(page.inner_text("#import-report .created"))
    assert created == 9
    assert Problem.objects.filter(project=project).count() > 1
