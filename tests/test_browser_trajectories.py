"""An agent trajectory on the labeling page, in headless Chromium: the user and tool
messages between the steps are shown (not rated), each step's tool calls and the tool
results are collapsed <details> with the tool's name and indented JSON, and the steps
are rated with the same keys as any other.

Screenshots: DATA_DIR/screenshots/trajectory_collapsed_after_key.png (after the key press) and
trajectory_after_rating.png (a tool result and a call opened) (data/test/screenshots/ in tests).
"""

import json

import pytest

from annotate.models import Project, StepRating
from annotate.services.imports import import_trajectories

from .browser_helpers import screenshot, start_labeling

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IDLE = "() => !document.querySelector('.htmx-request')"


def test_trajectory_context_and_tool_calls_after_a_key_press(live_server, page, shared_data,
                                                            make_user):
    lines = (shared_data / "agentprocessbench" / "hotpotqa.jsonl").read_text().splitlines()[:3]
    project = Project.objects.create(name="Agents", slug="agents", mode="first_error", overlap=2)
    report = import_trajectories(project, lines, source_name="hotpotqa.jsonl")
    assert (report.created, report.rejected) == (3, [])
    user = start_labeling(page, live_server, make_user, project)

    # Before the first step: the system prompt (collapsed) and the user's question.
    before = page.locator('#task .context[data-before="0"]')
    assert before.locator(".turn-system details.system-prompt").count() == 1
    assert before.locator(".turn-user .turn-text").is_visible()
    # Every trajectory of the file starts with a search: a collapsed call named "search".
    call = page.locator('#task .position[data-position="0"] details.tool-call').first
    assert call.locator("summary").inner_text() == "Tool call · search"
    assert not call.locator("pre.json").is_visible()

    page.keyboard.press("1")  # Great, the same key as on any task
    page.wait_for_selector('#task .position[data-position="1"]')
    page.wait_for_function(IDLE)
    assert StepRating.objects.filter(assignment__annotator=user, rating=1).count() == 1

    # After the key press: the tool's result sits between step 1 and step 2, collapsed.
    result = page.locator('#task .context[data-before="1"] details.tool-result')
    assert result.count() == 1
    assert result.locator("summary").inner_text() == "Tool result · search"
    assert not result.locator("pre.json").is_visible()
    screenshot(page, "trajectory_collapsed_after_key.png")
    result.locator("summary").click()
    assert result.locator("pre.json").is_visible()
    body = result.locator("pre.json").inner_text()
    assert json.loads(body)["result"]  # the JSON string the tool returned, indented
    assert "\n  " in body
    call = page.locator('#task .position[data-position="0"] details.tool-call').first
    call.locator("summary").click()
    args = json.loads(call.locator("pre.json").inner_text())
    assert list(args) == ["query_list"]
    # Context is never a rateable item: only steps carry data-node.
    assert page.locator("#task .context [data-node]").count() == 0
    assert page.locator("#task .item[data-node]").count() == 2
    shot = screenshot(page, "trajectory_after_rating.png")
    assert shot.exists()
