"""Two admin pages in Chromium: the members page (a styled email field, words for an empty
table) and the agreement page's chart by step position (a visible bar for every position
with a value, "n/a" and the reason for one without)."""


import pytest

from annotate.models import Membership

from .browser_helpers import screenshot, sign_in
from .manage_factories import add, make_project, make_solution, rate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


STYLE = "e => { const s = getComputedStyle(e); return [s.borderTopWidth, s.borderTopStyle, " \
        "s.borderRadius, s.width]; }"


def test_members_page_styles_the_email_field_and_says_when_empty(live_server, page, make_user):
    make_user("root", is_superuser=True, is_staff=True)  # acts as admin without a membership
    make_project("nobody")
    sign_in(page, live_server, "root")
    page.goto(f"{live_server.url}/manage/nobody/members/")
    page.wait_for_selector("#add-member")
    screenshot(page, "manage-members-empty.png")
    assert page.inner_text("#members tbody").strip() == "No members yet: add the first one below."
    email = page.eval_on_selector("#add-member input[name=email]", STYLE)
    username = page.eval_on_selector("#add-member input[name=username]", STYLE)
    assert email == username  # the same border, corners and width as the other fields
    assert email[:2] == ["1px", "solid"]


def test_agreement_chart_has_a_bar_per_position_with_a_value(live_server, page, make_user):
    admin, a, b = make_user("agr-admin"), make_user("agr-a"), make_user("agr-b")
    project = make_project("agr", admin=admin, overlap=2)
    add(project, a)
    add(project, b, Membership.Role.ANNOTATOR)
    # Position 1: full agreement across two solutions (alpha 1); position 2: one
    # disagreement (alpha 0); position 3: both said Bad, no variation (alpha undefined).
    s1, s2 = make_solution(project, n_steps=3, tag="one"), make_solution(project, 1, tag="two")
    rate(s1, a, [1, 1, -1])
    rate(s1, b, [1, 0, -1])
    rate(s2, a, [-1])
    rate(s2, b, [-1])

    sign_in(page, live_server, "agr-admin")
    page.goto(f"{live_server.url}/manage/agr/agreement/")
    page.wait_for_selector("svg.chart")
    screenshot(page, "manage-agreement.png")
    bars = page.eval_on_selector_all("svg.chart rect.bar",
                                     "rs => rs.map(r => r.getBoundingClientRect().width)")
    assert len(bars) == 2 and all(w >= 2 for w in bars), bars
    assert bars[0] > 100  # alpha 1 spans the chart
    chart = page.eval_on_selector("svg.chart", "s => s.textContent")
    assert "n/a: all ratings the same (no variation)" in chart
    assert "n/a: all ratings the same" in page.inner_text("#alpha-positions tr[data-position='3']")
