"""The label-sources page in Chromium: a reviewer picks the reference and the consensus rule's
sources, and the tables answer for them."""

import json

import pytest

from annotate.models import Membership
from annotate.services.imports import import_machine_labels

from .browser_helpers import screenshot, sign_in
from .manage_factories import add, make_project, make_solution, rate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reviewer_compares_sources(live_server, page, make_user):
    reviewer, human = make_user("src-rev"), make_user("src-human")
    project = make_project("srcpage")
    add(project, reviewer, Membership.Role.REVIEWER)
    add(project, human)
    truth = [[1, 1, -1], [1, 0, 1], [1, -1, -1]]
    judges = {"judge-a": [[1, 1, -1], [1, 1, 1], [1, -1, None]],
              "judge-b": [[1, -1, -1], [1, 0, 1], [-1, -1, 1]]}
    solutions = []
    for i, labels in enumerate(truth):
        s = make_solution(project, n_steps=3, tag=f"s{i}")
        s.external_id = f"ext-{i}"
        s.save()
        rate(s, human, labels)
        solutions.append(s)
    for name, table in judges.items():
        import_machine_labels(project, [json.dumps({"solution": s.external_id, "step_labels": row})
                                        for s, row in zip(solutions, table)],
                              source=name, kind="judge",
                              version={"model": f"{name}-model", "prompt_version": "v3"})

    sign_in(page, live_server, "src-rev")
    page.goto(f"{live_server.url}/manage/srcpage/label-sources/")
    page.wait_for_selector("#sources")
    # The default reference is the human consensus; the agree rule is over the two judges.
    assert page.input_value("#reference") == "human:consensus"
    assert "judge-a = judge-b" in page.inner_text("h2:has-text('Consensus rule')").replace(
        "judge:", "")
    row = page.locator("#sources tr[data-source='judge:judge-a']")
    assert row.locator(".accuracy").inner_text() == "87.5%"  # 7 of the 8 parsed steps
    assert row.locator(".on-reference").inner_text() == "77.8%"  # 7 of the 9 reference steps
    assert "judge-a-model" in row.inner_text()
    page.select_option("#reference", "judge:judge-b")
    page.click("#label-sources-form button[type=submit]")
    page.wait_for_function("() => location.search.includes('reference=judge')")
    assert page.input_value("#reference") == "judge:judge-b"
    assert page.locator("#kappa-matrix tbody tr").count() == 4
    screenshot(page, "manage-label-sources.png")
