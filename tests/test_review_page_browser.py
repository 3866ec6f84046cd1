"""The review page in Chromium shows what the annotator did: the walk in the order walked,
each step's rating in words and colour, the flag, the annotator's own step, and at each
position the alternatives they rated; the reviewer can still correct from it."""


import pytest

from annotate.models import Membership, StepNode, StepRating
from quality.models import ReviewCorrection

from .browser_helpers import screenshot, sign_in
from .manage_factories import add, make_project, make_solution, path_of, rate
from .walk_data import ALTERNATIVES, OWN_STEP, WALK, label_walk, make_branch_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GREAT, BAD = "rgb(31, 138, 76)", "rgb(179, 38, 30)"  # --great, --bad in stepwise.css
WORDS = {1: "Great", 0: "Okay", -1: "Bad"}


def _rows(page):
    """(position, role, first line of the step, the annotator's column) per table row."""
    return page.eval_on_selector_all("#review-steps tbody tr[data-node]", """rows => rows.map(r =>
        [Number(r.dataset.position), r.dataset.role,
         r.querySelector('.step-text').innerText.trim().split('\\n')[0],
         r.querySelector('td.mine').innerText.trim()])""")


def test_branch_walk_shows_order_ratings_flag_own_step_and_alternatives(live_server, page,
                                                                         make_user):
    project = make_branch_project("walkrev")
    admin, ann = make_user("rev-admin"), make_user("walker")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    assignment = label_walk(project, ann)
    flagged = StepNode.objects.get(problem__project=project, text=ALTERNATIVES[2][1][0])
    StepRating.objects.filter(assignment=assignment, node=flagged).update(flagged=True)

    sign_in(page, live_server, "rev-admin")
    page.goto(f"{live_server.url}/manage/walkrev/review/{assignment.pk}/")
    page.wait_for_selector("#review-steps .katex, #review-steps tr[data-role=written]")
    screenshot(page, "review-branch-walk.png")
    rows = _rows(page)

    walked = [(p, text) for p, role, text, _ in rows if role in ("walked", "written")]
    assert [text for _, text in walked] == [WALK[0][0], WALK[1][0], OWN_STEP, "Answer"]
    assert [p for p, _ in walked] == [1, 2, 3, 4]
    own = [r for r in rows if r[1] == "written"]
    assert len(own) == 1 and own[0][3] == "own step"
    assert page.inner_text("tr[data-role=written] .tag") == "written by walker"
    for position, alternatives in ALTERNATIVES.items():
        shown = {text: mine for p, role, text, mine in rows
                 if role == "alternative" and p == position + 1}
        for text, rating in alternatives:
            first = text.split("\n")[0].replace("# ", "")
            assert shown[first].startswith(WORDS[rating]), (position, first, shown)
    assert rows[0][3] == "Okay" and rows[2][3] == "Great"  # A1 Okay, then B2 Great
    flag_row = f"tr[data-node='{flagged.pk}']"
    assert "⚑ flagged" in page.inner_text(flag_row)
    colour = page.eval_on_selector(f"{flag_row} .rating", "e => getComputedStyle(e).color")
    assert colour == BAD
    great = page.eval_on_selector("tr[data-role=walked] .rating.great",
                                  "e => getComputedStyle(e).color")
    assert great == GREAT

    # The reviewer corrects a rated alternative from the page.
    page.select_option(f"select[name=label-{flagged.pk}]", "0")
    page.click("button[value=correct]")
    page.wait_for_selector("ul.messages")
    assert ReviewCorrection.objects.get(node=flagged).rating == 0


def test_first_error_walk_shows_the_error_flag_and_unreached_steps(live_server, page,
                                                                  make_user):
    admin, ann = make_user("fe-admin"), make_user("fe-ann")
    project = make_project("ferev", admin=admin)
    add(project, ann)
    solution = make_solution(project, n_steps=4, tag="fe")
    assignment = rate(solution, ann, [1, 0, -1, None], flagged=[2])
    steps = path_of(solution)

    sign_in(page, live_server, "fe-admin")
    page.goto(f"{live_server.url}/manage/ferev/review/{assignment.pk}/")
    page.wait_for_selector("#review-steps tr[data-node]")
    screenshot(page, "review-first-error.png")
    rows = _rows(page)
    assert [(p, role, text) for p, role, text, _ in rows] == [
        (1, "walked", "fe step 1"), (2, "walked", "fe step 2"), (3, "walked", "fe step 3"),
        (4, "unreached", "fe step 4")]
    assert [mine for *_, mine in rows] == ["Great", "Okay", "Bad ⚑ flagged", "—"]
    assert page.is_visible(f"select[name=label-{steps[3].pk}]")  # still correctable


def test_reviewer_corrects_a_critique_in_the_page(live_server, page, make_user):
    from annotate.models import Critique

    project = make_project("critrev")
    solution = make_solution(project, n_steps=3, tag="cr")
    ann, boss = make_user("crit-ann"), make_user("crit-boss")
    add(project, ann)
    add(project, boss, Membership.Role.REVIEWER)
    assignment = rate(solution, ann, [1, -1, None])
    critique = Critique.objects.create(assignment=assignment, node=path_of(solution)[1],
                                       author=ann, text="Wrong sum.")
    sign_in(page, live_server, "crit-boss")
    page.goto(f"{live_server.url}/manage/critrev/review/")
    assert page.inner_text(f"tr[data-assignment='{assignment.pk}'] td.critiques") == "1"
    page.goto(f"{live_server.url}/manage/critrev/review/{assignment.pk}/")
    box = f"#critique-{critique.pk}"
    assert page.get_attribute(box, "data-step") == "2"
    page.fill(f"{box} textarea[name=text]", "$2 + 2 = 4$, not 5.")
    page.click(f"{box} button[type=submit]")
    page.wait_for_selector(f"{box} .reviewed")
    page.wait_for_selector(f"{box} .critique-text .katex")  # LaTeX rendered like steps
    assert "corrected by crit-boss" in page.inner_text(box)
    screenshot(page, "review-critique-corrected.png")
    critique.refresh_from_db()
    assert (critique.text, critique.annotator_text) == ("$2 + 2 = 4$, not 5.", "Wrong sum.")
