"""Verify mode in headless Chromium, by keyboard, in both modes: the machine's verdict
pre-selected with its reason, confirm, change, jump to an unsure verdict, accept to the first
Bad, a critique of the Bad step (the machine's reason edited, a corrected step), reload and
resume, submit. After each kind of action the test looks at what a person sees: rendered math
in the changed step and in the verdict's reason, the cursor, the message bar, the focus. The
stored ratings carry their provenance.

Screenshots: DATA_DIR/screenshots/verify_*.png (data/test/screenshots/ in tests).
"""

import pytest

from annotate.models import Assignment, Critique, PreAnnotation, Project, StepNode, StepRating

from .browser_helpers import math_rendered, screenshot, settle, start_labeling
from .labeling_factories import make_solution

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


STEPS = ["Let $x = 6$.", "Then $7x = 42$.", "So $x^2 = 36$.", "So $x + 1 = 8$.",
         "# Answer\n\n8"]
REASONS = ["$x = 6$ is given.", "$7 \\cdot 6 = 42$.", "$6^2 = 36$.", "$6 + 1 = 7$, not $8$.",
           "the answer follows a wrong step"]
SPEC = "judge:vj"
VERSION = {"model": "judge-m", "prompt_version": "v3"}


def _judge(nodes, verdicts, reasons, agreements=None):
    for i, (node, rating, reason) in enumerate(zip(nodes, verdicts, reasons)):
        PreAnnotation.objects.create(
            node=node, kind="judge", source="vj", value=1.0 if rating > 0 else 0.0, rating=rating,
            reason=reason, provenance={"version": VERSION,
                                       "agreement": (agreements or {}).get(i, 1.0)})


def _path(solution) -> list:
    node, out = solution.last_step, []
    while node:
        out.append(node)
        node = node.parent
    return out[::-1]


def _settle(page) -> None:
    settle(page)


def _press(page, key: str) -> None:
    page.keyboard.press(key)
    settle(page)


def _math_in(page, sel: str) -> None:
    math_rendered(page, sel)


def _item(node) -> str:
    return f'#task .item[data-node="{node.pk}"]'


def _cursor(page) -> str:
    return page.locator("#task .item.cursor").get_attribute("data-node")


def test_verify_first_error_mode_by_keyboard(live_server, page, make_user):
    project = Project.objects.create(name="Verify", slug="verify", mode="first_error",
                                     overlap=1, verify_source=SPEC, candidates_per_position=1,
                                     critique_required_on_bad=True)
    solution = make_solution(project, STEPS, answer="7")
    path = _path(solution)
    # The judge: right on steps 1-3, Bad on 4 (its first Bad), unsure of step 1.
    _judge(path, [1, 1, 1, -1, -1], REASONS, agreements={0: 0.5})
    user = start_labeling(page, live_server, make_user, project)
    assignment = Assignment.objects.get(annotator=user)
    assert assignment.shown_source == SPEC

    # On load: the banner, step 1's verdict pre-selected, its reason as rendered math.
    assert page.locator("#verify-banner").is_visible()
    first = _item(path[0])
    assert page.locator(f"{first} .great-btn.preselected").count() == 1
    _math_in(page, f"{first} .verdict-reason")
    assert "unsure" in page.inner_text(f"{first} .verdict")
    # The preview: the steps after it whose verdicts accept would take, to the first Bad.
    assert page.eval_on_selector_all("#preview .preview-step", "els => els.map(e => e.dataset.preview)") \
        == [str(n.pk) for n in path[1:4]]
    _math_in(page, "#preview .text")
    _math_in(page, "#preview .verdict-reason")
    screenshot(page, "verify_load.png")

    # c confirms step 1: rated as the machine said; the cursor moves on to step 2, whose
    # verdict and reason arrive rendered.
    _press(page, "c")
    assert page.get_attribute(first, "data-rating") == "1"
    assert "you confirmed it" in page.inner_text(f"{first} .verdict")
    assert _cursor(page) == str(path[1].pk)
    assert page.eval_on_selector_all("#preview .preview-step", "els => els.map(e => e.dataset.preview)") \
        == [str(n.pk) for n in path[2:4]]
    _math_in(page, "#preview .text")
    _math_in(page, f"{_item(path[1])} .text")
    _math_in(page, f"{_item(path[1])} .verdict-reason")

    # 2 changes step 2 (the machine said Great): stored with what was shown.
    _press(page, "2")
    assert page.get_attribute(_item(path[1]), "data-rating") == "0"
    assert "you changed it" in page.inner_text(f"{_item(path[1])} .verdict")
    _math_in(page, f"{_item(path[1])} .text")

    # x jumps to the step the machine is unsure of (step 1, wrapping round).
    _press(page, "x")
    assert _cursor(page) == str(path[0].pk)
    _press(page, "n")  # back to the next unrated step
    assert _cursor(page) == str(path[2].pk)

    # a accepts the machine's verdicts up to its first Bad: steps 3 and 4 in one key. That
    # rates the whole walk, so the submit question opens at once; Esc stays on the task.
    _press(page, "a")
    page.wait_for_selector("#confirm[open]")
    _press(page, "Escape")
    assert page.locator("#confirm[open]").count() == 0
    assert page.get_attribute(_item(path[2]), "data-rating") == "1"
    assert page.get_attribute(_item(path[3]), "data-rating") == "-1"
    assert page.locator(_item(path[4])).count() == 0  # the walk ended at the Bad step
    _math_in(page, f"{_item(path[3])} .text")
    _math_in(page, f"{_item(path[3])} .verdict-reason")
    assert page.inner_text("#flash").strip() == ""
    screenshot(page, "verify_accepted.png")

    # a again: nothing left to accept, said in the message bar; the preview is empty.
    _press(page, "a")
    assert "nothing is left to accept" in page.inner_text("#flash")
    assert page.locator("#preview .preview-step").count() == 0

    # The project asks for a critique on every Bad step: submitting without one is refused,
    # with the reason in the message bar.
    _press(page, "Enter")
    page.wait_for_selector("#confirm[open]")
    _press(page, "Enter")
    page.wait_for_function("() => document.getElementById('flash').textContent.includes('critique')")
    assert "write one for step 4" in page.inner_text("#flash")
    assert Assignment.objects.get(pk=assignment.pk).status == "active"

    # e on the Bad step: the box opens with the machine's reason; edited, with a corrected step.
    page.locator(f"{_item(path[3])} .text").click()
    _press(page, "e")
    box = page.locator("#critique-text")
    assert page.locator("#critique-form").is_visible() and box.input_value() == REASONS[3]
    assert page.evaluate("() => document.activeElement.id") == "critique-text"
    box.press("End")
    box.type(" So $x + 1 = 7$.")
    page.fill("#critique-correction", "So $x + 1 = 7$.")
    box.press("Control+Enter")
    _settle(page)
    assert not page.locator("#critique-form").is_visible()
    assert page.evaluate("() => document.activeElement === document.body")
    _math_in(page, f"{_item(path[3])} .critique")
    assert "machine reason edited" in page.inner_text(f"{_item(path[3])} .critique").lower()
    screenshot(page, "verify_critique.png")
    critique = Critique.objects.get(assignment=assignment)
    assert critique.origin == "edited" and critique.shown_text == REASONS[3]
    assert critique.correction.text == "So $x + 1 = 7$." and critique.correction.author == "human"

    # e again opens the critique for editing (Delete offered); Replace clears the machine's
    # words, and what is typed instead is recorded as replaced.
    _press(page, "e")
    assert box.input_value().startswith(REASONS[3]) and page.locator("#critique-delete").is_visible()
    page.click("#critique-replace")
    assert box.input_value() == ""
    box.type("Adding 1 to $6$ gives $7$.")
    box.press("Control+Enter")
    _settle(page)
    assert "machine reason replaced" in page.inner_text(f"{_item(path[3])} .critique").lower()
    _math_in(page, f"{_item(path[3])} .critique")
    critique.refresh_from_db()
    assert (critique.origin, critique.text) == ("replaced", "Adding 1 to $6$ gives $7$.")

    # Reload: everything resumes as it was.
    page.reload()
    page.wait_for_selector("#task .item.cursor")
    assert [page.get_attribute(_item(n), "data-rating") for n in path[:4]] == ["1", "0", "1", "-1"]
    _math_in(page, f"{_item(path[3])} .critique")
    _math_in(page, f"{_item(path[0])} .verdict-reason")

    # Enter, Enter: submitted.
    _press(page, "Enter")
    page.wait_for_selector("#confirm[open]")
    _press(page, "Enter")
    page.wait_for_url("**/next/?empty=1")
    assignment.refresh_from_db()
    assert assignment.status == "submitted" and assignment.finish_reason == "found_error"
    shown = {r.node_id: (r.rating, r.shown) for r in StepRating.objects.filter(assignment=assignment)}
    for node, rating, machine in zip(path[:4], [1, 0, 1, -1], [1, 1, 1, -1]):
        assert shown[node.pk] == (rating, {"source": SPEC, "version": VERSION, "rating": machine})


def test_verify_branch_mode_by_keyboard(live_server, page, make_user):
    project = Project.objects.create(name="VBranch", slug="vbranch", mode="branch", overlap=1,
                                     verify_source=SPEC, candidates_per_position=3)
    solution = make_solution(project, ["Let $x = 6$.", "# Answer\n\n42"], answer="42",
                             alternatives={0: ["Let $x = 7$.", "Let $y = 6$."]})
    first = list(StepNode.objects.filter(problem=solution.problem, depth=0).order_by("id"))
    answer = solution.last_step
    _judge(first, [1, -1, 1], ["$x = 6$ is given.", "$x = 7$ is not given.", "$y = 6$ works."])
    _judge([answer], [1], ["$6 \\cdot 7 = 42$."])
    user = start_labeling(page, live_server, make_user, project, username="vb-annotator")
    assignment = Assignment.objects.get(annotator=user)

    # a: the current position's candidates take the verdicts, stopping after the first Bad.
    _press(page, "a")
    ratings = [page.get_attribute(_item(n), "data-rating") for n in first]
    assert ratings == ["1", "-1", ""]
    assert _cursor(page) == str(first[2].pk)
    _math_in(page, f"{_item(first[1])} .verdict-reason")
    # c confirms the third; k k back to the first; Enter continues from it.
    _press(page, "c")
    assert page.get_attribute(_item(first[2]), "data-rating") == "1"
    _press(page, "k")
    _press(page, "k")
    assert _cursor(page) == str(first[0].pk)
    _press(page, "Enter")
    page.wait_for_selector(_item(answer))
    _math_in(page, f"{_item(answer)} .verdict-reason")
    assert page.locator(f"{_item(answer)} .great-btn.preselected").count() == 1
    screenshot(page, "verify_branch.png")
    _press(page, "c")
    _press(page, "Enter")  # continue from the final answer: the walk is done
    page.wait_for_function("() => document.getElementById('task').dataset.walkDone === '1'")
    _press(page, "Enter")
    page.wait_for_selector("#confirm[open]")
    _press(page, "Enter")
    page.wait_for_url("**/next/?empty=1")
    assignment.refresh_from_db()
    assert assignment.status == "submitted"
    stored = {r.node_id: (r.rating, r.shown["rating"]) for r in
              StepRating.objects.filter(assignment=assignment)}
    assert stored == {first[0].pk: (1, 1), first[1].pk: (-1, -1), first[2].pk: (1, 1),
                      answer.pk: (1, 1)}
