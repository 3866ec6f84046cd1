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
    # No verify source: the anchoring section says so; naming a judge measures it, every
    # task of this project being blind to it.
    assert "no verify source" in page.inner_text("#anchoring-message")
    assert page.locator("#anchoring").count() == 0
    page.select_option("#reference", "human:consensus")
    page.select_option("#anchoring-source", "judge:judge-a")
    page.click("#label-sources-form button[type=submit]")
    page.wait_for_selector("#anchoring")
    row = page.locator("#anchoring tr[data-annotator='src-human']")
    assert row.locator(".blind-agreement").inner_text() == "87.5% 7 of 8"
    assert row.locator(".shown-agreement").inner_text() == "– 0 of 0"
    assert page.input_value("#anchoring-source") == "judge:judge-a"
    screenshot(page, "manage-label-sources-anchoring.png")


def test_agentprocessbench_judges_against_the_humans(live_server, page, make_user, shared_data):
    """The AgentProcessBench hotpotqa files as imported: the figures on the page."""
    from annotate.services.imports import import_file

    base = shared_data / "agentprocessbench"
    reviewer = make_user("apb-rev")
    project = make_project("apb", name="AgentProcessBench hotpotqa")
    add(project, reviewer, Membership.Role.REVIEWER)
    import_file(project, base / "hotpotqa.jsonl", "agent_trajectory")
    for name in ("gpt-5.2", "qwen3-8b-thinking"):
        import_file(project, base / f"judge_{name}_hotpotqa.jsonl", "machine_labels", {
            "source": name, "kind": "judge", "step_key": "message_index",
            "version": {"model": name, "prompt_version": "agentprocessbench"}})
    sign_in(page, live_server, "apb-rev")
    page.goto(f"{live_server.url}/manage/apb/label-sources/")
    page.wait_for_selector("#sources")
    gpt = page.locator("#sources tr[data-source='judge:gpt-5.2']")
    qwen = page.locator("#sources tr[data-source='judge:qwen3-8b-thinking']")
    assert gpt.locator(".on-reference").inner_text() == "72.1%"
    assert qwen.locator(".on-reference").inner_text() == "59.7%"
    assert page.inner_text("#kept-fraction") == "67.7%"
    assert page.inner_text("#kept-accuracy") == "77.3%"
    screenshot(page, "manage-label-sources-agentprocessbench.png")
