"""The scaling chart renders in headless Chromium, and its points are the API's."""

import pytest
from rest_framework.test import APIClient

from api.services import issue_token
from tests.search_factories import searched_prm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_scaling_chart_renders_the_api_points(live_server, page, make_user):
    admin = make_user("chart-admin")
    prm, run = searched_prm(admin, slug="chart")
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "chart-admin")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/training/models/{prm.pk}/")
    page.click("#search-link")
    page.wait_for_selector("#scaling-chart circle.point")

    drawn = page.eval_on_selector_all("#scaling-chart circle.point", """els => els.map(e => {
        const box = e.getBoundingClientRect();
        return {strategy: e.dataset.strategy, budget: +e.dataset.budget, accuracy: +e.dataset.accuracy,
                tokens: +e.dataset.generatedTokens, cx: +e.getAttribute('cx'), cy: +e.getAttribute('cy'),
                w: box.width};
    })""")
    _, key = issue_token(user=admin, name="chart", scope="read")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    points = api.get(f"/api/models/{prm.pk}/scaling/").json()["points"]
    assert [(d["strategy"], d["budget"], d["accuracy"]) for d in drawn] == [
        (p["strategy"], p["budget"], p["accuracy"]) for p in points]
    assert all(d["w"] > 0 for d in drawn)  # laid out, not just present in the markup
    # Higher accuracy is higher on the chart; twice the tokens is one equal step right (log x).
    beam = {d["budget"]: d for d in drawn if d["strategy"] == "beam"}
    assert beam[4]["cy"] < beam[2]["cy"] < beam[1]["cy"]
    major = {d["budget"]: d for d in drawn if d["strategy"] == "majority"}
    assert major[2]["cx"] - major[1]["cx"] == pytest.approx(major[4]["cx"] - major[2]["cx"], abs=0.2)
    assert page.locator("#scaling-chart g.series").count() == 4
    assert "Beam search" in page.inner_text("#scaling-legend")
    assert page.get_attribute("#scaling-csv", "href").endswith(f"?run={run.pk}")
