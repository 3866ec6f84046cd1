"""The long-trace labeling page in headless Chromium: the 362-paragraph DeltaBench trace
labeled by keyboard end to end (rate, jump, rate a section, undo, a refused action, reload
and resume), checking after each kind of action what a person sees: rendered math in the
changed step, the rail's state, the cursor, the message bar. And an agent trajectory's
tool calls, collapsed and syntax-highlighted, after an answer in parts.

Screenshots: DATA_DIR/screenshots/long_trace_*.png (data/test/screenshots/ in tests).
"""

import pytest

from annotate.models import PreAnnotation, Project, StepGroup, StepRating

from .browser_helpers import math_rendered, screenshot, settle, start_labeling
from .trace_factories import make_trace_solution

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _cursor_pos(page) -> int:
    return int(page.locator("#task .item.cursor").evaluate(
        "el => el.closest('.position').dataset.position"))


def _rail(page, i: int) -> str:
    return page.locator(f"#rail-{i}").get_attribute("data-state")


def _math_in(page, sel: str) -> None:
    math_rendered(page, sel, ".text")


def _settle(page) -> None:
    settle(page)


def test_long_trace_by_keyboard_end_to_end(live_server, page, make_user):
    project = Project.objects.create(name="Long", slug="long", mode="first_error", overlap=1,
                                     show_hints=True)
    solution = make_trace_solution(project)
    groups = list(StepGroup.objects.filter(solution=solution).order_by("index"))
    first = solution.problem.nodes.order_by("depth").first()
    PreAnnotation.objects.create(node=first, kind="prm_score", source="prm-test", value=0.1)
    user = start_labeling(page, live_server, make_user, project)

    # Load: a rail of all 362 steps, the first section's description, step 1 under the cursor.
    assert page.locator("#rail .rail-cell").count() == 362
    assert _rail(page, 0) == "unrated" and _rail(page, 1) == "hidden"
    assert "hint" in page.locator("#rail-0").get_attribute("class")  # the machine flag
    assert page.locator(f"#group-{groups[0].pk} .group-desc").inner_text() == groups[0].title
    assert _cursor_pos(page) == 0
    _math_in(page, "#pos-0")
    screenshot(page, "long_trace_load.png")

    # Rate: step 1 Great; step 2 appears with its math rendered; the rail follows.
    page.keyboard.press("1")
    page.wait_for_selector("#pos-1")
    _settle(page)
    assert _rail(page, 0) == "great" and _rail(page, 1) == "unrated"
    assert page.locator("#pos-0 .item").get_attribute("data-rating") == "1"
    assert _cursor_pos(page) == 1
    _math_in(page, "#pos-0")
    _math_in(page, "#pos-1")
    assert "Step 2 of 362" in page.locator("#progress").inner_text()
    assert page.locator("#flash").inner_text() == ""

    # Jump: m to the step a machine source flags (step 1), n back to the next unrated.
    page.keyboard.press("m")
    assert _cursor_pos(page) == 0
    page.keyboard.press("n")
    assert _cursor_pos(page) == 1

    # Rate a section at once: G rates every step of the cursor's section Great.
    size = groups[0].end - groups[0].start
    page.keyboard.press("G")
    page.wait_for_selector(f"#pos-{size}")
    _settle(page)
    assert [_rail(page, i) for i in range(size + 1)] == ["great"] * size + ["unrated"]
    assert "group-done" in page.locator(f"#group-{groups[0].pk}").get_attribute("class")
    assert StepRating.objects.filter(assignment__annotator=user, rating=1).count() == size
    assert _cursor_pos(page) == size
    _math_in(page, f"#pos-{size - 1}")  # a step the section rating re-rendered
    assert page.locator(f"#group-{groups[1].pk} .group-desc").inner_text() == groups[1].title
    screenshot(page, "long_trace_after_section.png")

    # The rail jumps on click; a step not shown yet says so in the message bar.
    page.click("#rail-1")
    assert _cursor_pos(page) == 1
    page.click("#rail-200")
    assert "Step 201 is not shown yet" in page.locator("#flash").inner_text()
    page.keyboard.press("n")
    assert _cursor_pos(page) == size

    # Bad ends the walk there: the rail shows it, alternatives are asked for.
    page.keyboard.press("3")
    page.wait_for_selector(f"#pos-{size} .position.bad-position")
    _settle(page)
    assert _rail(page, size) == "bad"
    assert "found_error" in page.locator("#task").get_attribute("data-reason")
    screenshot(page, "long_trace_bad.png")

    # A refused action shows the server's message; nothing changes.
    url = page.locator("#task").get_attribute("data-group-url")
    page.evaluate("""([url, g]) => htmx.ajax('POST', url, {target: '#task', swap: 'outerHTML',
        values: {group: g, rating: 1}, source: document.getElementById('task'),
        headers: {'X-CSRFToken': JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken']}})""",
                  [url, groups[10].pk])
    page.wait_for_function("() => document.getElementById('flash').textContent.includes('not reached')")
    assert _rail(page, size) == "bad"

    # Undo takes the Bad back; the step is unrated again and the cursor is on it.
    page.keyboard.press("u")
    page.wait_for_function(f"() => document.getElementById('rail-{size}').dataset.state === 'unrated'")
    _settle(page)
    assert _cursor_pos(page) == size
    assert page.locator(f"#pos-{size} .bad-position").count() == 0

    # Reload and resume: the same ratings, the rail, the cursor on the first unrated step.
    page.reload()
    page.wait_for_selector("#task .item.cursor")
    assert [_rail(page, i) for i in range(size + 1)] == ["great"] * size + ["unrated"]
    assert _cursor_pos(page) == size
    _math_in(page, "#positions")
    page.keyboard.press("2")
    page.wait_for_selector(f"#pos-{size + 1}")
    _settle(page)
    assert _rail(page, size) == "okay"
    screenshot(page, "long_trace_resumed.png")


def test_trajectory_tool_calls_highlighted_after_a_rating(live_server, page, shared_data,
                                                          make_user):
    from annotate.services.imports import import_trajectories

    lines = (shared_data / "agentprocessbench" / "hotpotqa.jsonl").read_text().splitlines()[:3]
    project = Project.objects.create(name="Agents", slug="agents", mode="first_error", overlap=2)
    report = import_trajectories(project, lines, source_name="hotpotqa.jsonl")
    assert (report.created, report.rejected) == (3, [])
    start_labeling(page, live_server, make_user, project)
    call = page.locator('#pos-0 details.tool-call').first
    assert call.locator("summary").inner_text() == "Tool call · search"
    assert call.locator("pre.json .j-key").count() > 0  # highlighted on load
    page.keyboard.press("1")
    page.wait_for_selector("#pos-1")
    _settle(page)
    result = page.locator('#pos-1 .context details.tool-result').first
    assert result.locator("summary").inner_text() == "Tool result · search"
    result.locator("summary").click()
    assert result.locator("pre.json span").count() > 0  # highlighted in the part that came in
    screenshot(page, "long_trace_trajectory.png")
