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


def test_search_page_follows_its_run_to_the_chart(live_server, page, make_user):
    """Watched live, the page shows a running search's progress, then its chart once the
    Run finishes, without a reload by hand."""
    from search.models import SearchResult
    from workers.models import Run

    admin = make_user("watch-admin")
    prm, done = searched_prm(admin, slug="watch")
    running = Run.objects.create(kind="search", project=prm.project, status=Run.Status.RUNNING,
                                 params={"prm_model_id": prm.pk, "max_budget": 4},
                                 progress_done=1, progress_total=4)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "watch-admin")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/search/models/{prm.pk}/")
    item = page.locator(f'#search-runs li:has-text("Run {running.pk}:")')
    assert "running · 1/4 problems" in item.inner_text()
    assert page.get_attribute("#scaling-csv", "href").endswith(f"?run={done.pk}")

    # The worker writes the Run's results and finishes it.
    for row in SearchResult.objects.filter(run=done):
        row.pk, row.run = None, running
        row.save()
    Run.objects.filter(pk=running.pk).update(status=Run.Status.SUCCEEDED, progress_done=4)
    page.wait_for_function(
        "run => (document.querySelector('#scaling-csv')?.getAttribute('href') || '')"
        ".endsWith('?run=' + run)", arg=running.pk)
    assert "succeeded · 4/4 problems" in page.locator(
        f'#search-runs li:has-text("Run {running.pk}:")').inner_text()
    assert page.locator("#scaling-chart circle.point").count() == len(
        SearchResult.objects.filter(run=running).values("strategy", "budget").distinct())


def test_a_queued_search_says_it_waits_for_a_worker(client, make_user):
    from workers.models import Run

    admin = make_user("queue-admin")
    prm, _ = searched_prm(admin, slug="queued")
    Run.objects.create(kind="search", project=prm.project, status=Run.Status.QUEUED,
                       params={"prm_model_id": prm.pk, "max_budget": 4})
    client.login(username="queue-admin", password="pw-for-tests")
    body = client.get(f"/search/models/{prm.pk}/").content.decode()
    assert "queued · waiting for a worker" in body and "0/0" not in body
