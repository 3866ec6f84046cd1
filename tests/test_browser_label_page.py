"""The labeling page as an annotator sees it, in headless Chromium: what is on screen after
every kind of action (key, button, click, own step, submit), not only on load.

Screenshots of the main states go to DATA_DIR/screenshots/ (data/test/screenshots/ in tests) (docs/labeling.md).
"""

import json

import pytest

from annotate.models import Assignment, Membership, Problem, Project, Solution, StepNode

from .browser_helpers import RAW_MATH as RAW_DOLLARS
from .browser_helpers import screenshot, wait_for_math

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IDLE = "!document.querySelector('.htmx-request')"


def _import(shared_data, index: int, **fields) -> Project:
    from annotate.services.imports import import_prm800k

    line = (shared_data / "prm800k" / "phase2_sample.jsonl").read_text().splitlines()[index]
    project = Project.objects.create(name="Phase 2", slug="phase2", overlap=2,
                                     candidates_per_position=8, **fields)
    report = import_prm800k(project, [line], source_name="phase2_sample.jsonl")
    assert report.created and not report.rejected, report
    return project


def _login(page, live_server, make_user, project, name="annotator", role="annotator", **extra):
    user = make_user(name, **extra)
    Membership.objects.create(project=project, user=user, role=role)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", "pw-for-tests")
    page.keyboard.press("Enter")
    page.wait_for_selector("#project-list")
    return user


def _start(page, live_server, project):
    page.goto(f"{live_server.url}/p/{project.slug}/next/")
    if page.locator("#start-task").count():  # GET only shows the Start button (a POST)
        page.click("#start-task")
    page.wait_for_selector("#task .item.cursor")


def _rated(page) -> int:
    return page.locator('#task .item[data-node]:not([data-rating=""])').count()


def _wait_rated(page, n: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#task .item[data-node]:not([data-rating=\"\"])').length"
        f" >= n && {IDLE}", arg=n)


def _assert_math_rendered(page, *selectors) -> None:
    for sel in selectors:
        wait_for_math(page, sel)
        assert page.locator(f"{sel} .katex").count() > 0, f"no KaTeX in {sel}"
        assert page.evaluate(RAW_DOLLARS, sel) == [], f"raw LaTeX left in {sel}"


def test_math_stays_rendered_after_every_action(live_server, page, shared_data, make_user):
    """Issue 1: after a key press the panel came back as raw `$G$`; the answer never rendered."""
    project = _import(shared_data, 1, mode="first_error")  # ground truth 3R^2
    _login(page, live_server, make_user, project)
    _start(page, live_server, project)
    _assert_math_rendered(page, "#problem", "#task .item .text")
    for n in range(1, 4):
        page.keyboard.press("1")
        _wait_rated(page, n)
        _assert_math_rendered(page, "#problem", "#task .item .text")
    _assert_math_rendered(page, "#ground-truth")  # "3R^2": bare LaTeX, no delimiters
    page.keyboard.press("3")  # Bad: the walk ends; an own step may replace it
    _wait_rated(page, 4)
    page.keyboard.press("w")
    page.keyboard.type("So $GH^2 = 9R^2 - (a^2 + b^2 + c^2)$.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#task .item.human")
    page.wait_for_function(f"() => {IDLE}")
    _assert_math_rendered(page, "#task .item.human .text", "#task .item .text")
    screenshot(page, "math-after-own-step.png")

    # The review page renders the same steps and problem.
    reviewer = make_user("reviewer")
    Membership.objects.create(project=project, user=reviewer, role=Membership.Role.ADMIN)
    imported = Assignment.objects.get(project=project, source=Assignment.Source.IMPORT)
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "reviewer")
    page.fill("input[name=password]", "pw-for-tests")
    page.keyboard.press("Enter")
    page.wait_for_selector("#project-list")
    page.goto(f"{live_server.url}/manage/{project.slug}/review/{imported.pk}/")
    _assert_math_rendered(page, "#review-problem", "#review-steps .step-text")
    screenshot(page, "review-math.png")


def _branch_problem(project, answers=("# Answer: 24",)) -> Problem:
    problem = Problem.objects.create(project=project, statement="What is $4 \\cdot 6$?",
                                     ground_truth_answer="24")
    first = StepNode.objects.create(problem=problem, parent=None, depth=0, text="$4 \\cdot 6 = 24$.")
    last = None
    for text in answers:
        last = StepNode.objects.create(problem=problem, parent=first, depth=1, text=text)
    Solution.objects.create(project=project, problem=problem, last_step=last)
    return problem


def test_own_answer_step_written_as_shown_ends_the_walk(live_server, page, make_user):
    """Issue 2: "Answer: 23" (as the page shows "# Answer: 24") did not end the walk."""
    project = Project.objects.create(name="Branch", slug="branch", mode="branch", overlap=1,
                                     candidates_per_position=3)
    _branch_problem(project)
    _login(page, live_server, make_user, project)
    _start(page, live_server, project)
    page.keyboard.press("1")
    _wait_rated(page, 1)
    page.keyboard.press("Enter")  # continue from step 1
    page.wait_for_selector('#task .position[data-position="1"] .item[data-node]')
    # The stored "# Answer: 24" is marked as the final answer on screen.
    assert "final answer" in page.inner_text('#task .position[data-position="1"] .item')
    page.keyboard.press("1")
    _wait_rated(page, 2)
    page.keyboard.press("w")
    assert page.is_visible("#answer-rule")
    assert "Answer: 42" in page.inner_text("#answer-rule")
    page.keyboard.type("Answer: 23")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#task .item.human")
    page.wait_for_function(f"() => document.querySelector('#task').dataset.walkDone === '1' && {IDLE}")
    human = page.inner_text("#task .item.human")
    assert "23" in human and "final answer" in human
    assert "submit as" in page.inner_text("#next-hint")
    assert page.locator("#waiting").count() == 0  # no generator asked for a further step
    screenshot(page, "own-answer-ends-walk.png")


def test_keymap_cannot_take_a_built_in_key(live_server, page, make_user):
    """Issue 3: `flag = w` was accepted, and then `w` could no longer open the write box."""
    project = Project.objects.create(name="Keys", slug="keys")
    _login(page, live_server, make_user, project, name="admin", role="admin", is_staff=True)
    page.goto(f"{live_server.url}/manage/{project.slug}/")
    page.fill("textarea[name=keymap]", "flag = w")
    page.click("#project-form button[type=submit]")
    page.wait_for_selector("#project-form .error")
    assert "built in" in page.inner_text("#project-form")
    project.refresh_from_db()
    assert project.effective_keymap["flag"] == "f"


def test_mouse_path_legend_and_instructions(live_server, page, shared_data, make_user):
    """Issue 4: no buttons, clicks did nothing, the legend was collapsed, `?` listed no keys."""
    project = _import(shared_data, 8, mode="first_error")  # 1, 1, then Bad with alternatives
    _login(page, live_server, make_user, project)
    _start(page, live_server, project)
    assert page.is_visible("#key-legend") and "Great" in page.inner_text("#key-legend")
    page.click("#task .item.cursor .great-btn")
    _wait_rated(page, 1)
    page.click("#task .item.cursor .great-btn")
    _wait_rated(page, 2)
    page.click("#task .item.cursor .bad-btn")
    _wait_rated(page, 3)
    _assert_math_rendered(page, "#task .item .text")  # step 2 is a bare \begin{align*}
    # Alternatives are shown; a click on one selects it, and its buttons rate that one.
    alternative = page.locator('#task .item.candidate').nth(1)
    alternative.locator(".text").click()
    assert "cursor" in alternative.get_attribute("class")
    alternative.locator(".okay-btn").click()
    page.wait_for_function(
        f"() => document.querySelectorAll('#task .item.candidate')[1].dataset.rating === '0' && {IDLE}")
    page.locator('#task .item.candidate').nth(1).locator(".flag-btn").click()
    page.wait_for_selector("#task .item.candidate >> nth=1 >> .flag-badge")
    page.click("#undo-btn")  # undo removes the flag again
    page.wait_for_function(
        "() => !document.querySelectorAll('#task .item.candidate')[1].querySelector('.flag-badge')")
    page.keyboard.press("?")
    page.wait_for_selector("#instructions[open]")
    listed = page.inner_text("#instructions")
    for words in ("Great", "Okay", "Bad", "unsure", "undo", "write your own step"):
        assert words in listed
    screenshot(page, "instructions-dialog.png")
    page.keyboard.press("?")
    page.wait_for_selector("#instructions:not([open])", state="attached")


def test_progress_confirmation_messages_and_flag_target(live_server, page, shared_data,
                                                        make_user):
    """Issue 5: no progress, no confirmation, stale messages, codes, `f` on the wrong step."""
    project = _import(shared_data, 2, mode="first_error")  # 1, 1, then Bad with alternatives
    from tests.labeling_factories import make_solution

    make_solution(project, ["Let $x = 6$.", "# Answer: 42"])  # a second task to go on to
    _login(page, live_server, make_user, project)
    _start(page, live_server, project)
    total = Solution.objects.get(project=project, assignments__annotator__username="annotator"
                                 ).last_step.depth + 1
    assert f"Step 1 of {total} · 0 of 1 shown step rated" in page.inner_text("#progress")
    assert "Tasks you have done here: 0" in page.inner_text("#tasks-done")
    page.keyboard.press("Enter")  # not ready: the message says what is missing now
    assert "Not ready to submit. Rate the highlighted step" in page.inner_text("#flash")
    page.keyboard.press("1")
    _wait_rated(page, 1)
    assert page.inner_text("#flash") == ""  # the stale message went with the state
    assert f"Step 2 of {total}" in page.inner_text("#progress")
    page.keyboard.press("f")  # the step just rated, not the next one under the cursor
    page.wait_for_selector('#task .position[data-position="0"] .flag-badge')
    assert page.locator('#task .position[data-position="1"] .flag-badge').count() == 0
    page.keyboard.press("1")
    _wait_rated(page, 2)
    for n in range(3, 3 + page.locator("#task .position[data-position='2'] .item[data-node]").count()):
        page.keyboard.press("3")
        _wait_rated(page, n)
    hint = page.inner_text("#next-hint")
    assert "error found" in hint and "found_error" not in hint
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm[open]")
    assert "error found" in page.inner_text("#confirm-text")
    assert page.evaluate("document.activeElement.id") == "confirm-yes"  # Enter confirms
    screenshot(page, "submit-confirmation.png")
    page.keyboard.press("Escape")  # cancel: nothing submitted
    page.wait_for_selector("#confirm:not([open])", state="attached")
    # A key that reaches the closed dialog's button (focus left behind) answers nothing.
    page.evaluate("document.getElementById('confirm-yes').click()")
    page.wait_for_load_state("networkidle")
    assert Assignment.objects.get(annotator__username="annotator").status == "active"
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm[open]")
    page.keyboard.press("Enter")
    page.wait_for_selector(".messages")
    page.wait_for_selector("#task .item.cursor")
    said = page.inner_text(".messages")
    assert "Task submitted (error found" in said and "Tasks done in this project: 1" in said
    assert "new task" in said
    assert "Tasks you have done here: 1" in page.inner_text("#tasks-done")
    screenshot(page, "next-task-after-submit.png")
    # Give up asks first, too.
    page.click("#give-up")
    page.wait_for_selector("#confirm[open]")
    assert "Give up" in page.inner_text("#confirm-text")
    page.click("#confirm-no")
    assert Assignment.objects.filter(status="active").count() == 1
    page.click("#give-up")
    page.click("#confirm-yes")
    page.wait_for_selector("#no-tasks")
    assert "gave up" in page.inner_text(".messages")


def test_branch_mode_carries_over_ratings_of_identical_steps(live_server, page, make_user):
    """Issue 6: the second solution of a problem asked again for the same step-1 ratings."""
    project = Project.objects.create(name="Branch", slug="carry", mode="branch", overlap=1,
                                     candidates_per_position=4)
    problem = Problem.objects.create(project=project, statement="What is $4 \\cdot 6$?",
                                     ground_truth_answer="24")
    roots = [StepNode.objects.create(problem=problem, parent=None, depth=0, text=t)
             for t in ("$4 \\cdot 6 = 24$.", "$4 \\cdot 6 = 25$.")]
    for root, answer in zip(roots, ("# Answer: 24", "# Answer: 25")):
        leaf = StepNode.objects.create(problem=problem, parent=root, depth=1, text=answer)
        Solution.objects.create(project=project, problem=problem, last_step=leaf)
    _login(page, live_server, make_user, project)
    _start(page, live_server, project)
    page.keyboard.press("1")
    _wait_rated(page, 1)
    page.keyboard.press("3")
    _wait_rated(page, 2)
    from annotate.services.labeling import finish

    user = Assignment.objects.get(status="active").annotator
    finish(Assignment.objects.get(status="active").pk, user, reason="give_up")
    _start(page, live_server, project)
    first = Assignment.objects.get(finish_reason="give_up")
    second = Assignment.objects.get(status="active")
    assert second.solution_id != first.solution_id
    ratings = page.eval_on_selector_all("#task .item[data-node]", "els => els.map(e => e.dataset.rating)")
    assert ratings == ["1", "-1"]
    assert "2 of 2 shown steps rated" in page.inner_text("#progress")
    screenshot(page, "branch-carried-over.png")


def test_task_assignment_needs_a_post(live_server, page, make_user, client):
    """Security 23.11: a GET of /p/<slug>/next/ assigned a task (no CSRF protection)."""
    from tests.labeling_factories import make_solution

    project = Project.objects.create(name="Csrf", slug="csrf")
    make_solution(project, ["Let $x = 6$.", "# Answer: 42"])
    user = _login(page, live_server, make_user, project)
    page.goto(f"{live_server.url}/p/{project.slug}/next/")
    assert page.is_visible("#start-task")
    assert not Assignment.objects.filter(annotator=user).exists()
    # A cross-site POST without the token is refused.
    from django.test import Client

    forged = Client(enforce_csrf_checks=True)
    forged.force_login(user)
    assert forged.post(f"/p/{project.slug}/next/").status_code == 403
    assert not Assignment.objects.filter(annotator=user).exists()
    page.click("#start-task")
    page.wait_for_selector("#task .item.cursor")
    assert Assignment.objects.filter(annotator=user, status="active").count() == 1
    # With a task held, GET shows it again and takes nothing new.
    page.goto(f"{live_server.url}/p/{project.slug}/next/")
    page.wait_for_selector("#task .item.cursor")
    assert Assignment.objects.filter(annotator=user).count() == 1
    assert json.loads(page.text_content("#keymap"))["great"] == "1"
