"""The label-sources report of a big project, precomputed by a ``label_report`` Run through the
real worker: the page shows the stored result with its date and a Recompute button, the CSV
says 409 before any result, the API gives the stored result or 202 with the Run, and the
stored numbers are the ones computed on request (docs/labels.md, "The report")."""

import json

import pytest

from annotate.models import Assignment, Membership
from annotate.services.imports import import_machine_labels
from workers.models import Run

from .conftest import wait_for_run
from .manage_factories import add, make_project, make_solution, rate

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _project(make_user):
    reviewer, human = make_user("lr-reviewer"), make_user("lr-human")
    project = make_project("lr", verify_source="judge:a")
    add(project, reviewer, Membership.Role.REVIEWER)
    add(project, human)
    sols = []
    for i in range(3):
        s = make_solution(project, n_steps=4, tag=f"lr{i}")
        s.external_id = f"lr-{i}"
        s.save()
        sols.append(s)
    for s, truth in zip(sols, ([1, 1, -1, -1], [1, 1, 1, 1], [1, -1, 0, 0])):
        task = rate(s, human, truth)
    Assignment.objects.filter(pk=task.pk).update(shown_source="judge:a")  # the last one showed it
    for name, rows in (("a", ([1, 1, -1, 1], [1, None, 1, 0], [1, -1, 0, -1])),
                       ("b", ([1, -1, -1, 1], [1, 1, 1, 0], [0, -1, 0, -1]))):
        import_machine_labels(project, [json.dumps({"solution": s.external_id,
                                                    "step_labels": dict(enumerate(r))})
                                        for s, r in zip(sols, rows)], source=name, kind="judge",
                              version={"model": f"model-{name}"})
    return project, reviewer


def test_big_project_report_is_a_run(celery_worker, client, make_user, settings):
    project, reviewer = _project(make_user)
    client.force_login(reviewer)
    page_url = f"/manage/{project.slug}/label-sources/"
    api_url = f"/api/projects/{project.pk}/label-sources/"
    inline = client.get(api_url).json()  # 3 solutions: computed on request
    assert inline["reference"] == "human:consensus" and inline["consensus"]
    assert inline["anchoring"]["overall"]["shown_steps"] == 4

    settings.LABEL_REPORT_INLINE_SOLUTIONS = 2  # now the project counts as big
    html = client.get(page_url).content.decode()
    assert 'id="report-none"' in html and 'id="recompute"' in html and 'id="sources"' not in html
    csv = client.get(page_url + "sources.csv")
    assert csv.status_code == 409 and "press Recompute" in csv.content.decode()
    assert client.get(page_url + "?reference=bogus").status_code == 400
    assert client.post(page_url + "recompute/?reference=bogus").status_code == 400

    resp = client.post(page_url + "recompute/")
    assert resp.status_code == 302 and resp["Location"] == page_url
    run = Run.objects.get(project=project, kind="label_report")
    assert run.params == {"reference": None, "consensus": None}
    html = client.get(page_url).content.decode()
    if not run.is_finished:  # a second press while it runs starts nothing new
        assert 'id="run-status"' in html
        client.post(page_url + "recompute/")
        assert Run.objects.filter(project=project, kind="label_report").count() == 1
    run = wait_for_run(run, timeout=120)
    assert run.status == "succeeded", run.error
    assert run.progress_total > 0 and run.progress_done == run.progress_total

    html = client.get(page_url).content.decode()
    assert 'id="report-computed"' in html and 'id="sources"' in html and "model-a" in html
    stored = client.get(api_url)
    assert stored.status_code == 200 and stored.json() == inline  # the same numbers
    for table in ("sources", "positions", "first_error", "pairs", "consensus", "anchoring"):
        settings.LABEL_REPORT_INLINE_SOLUTIONS = 2000
        on_request = client.get(page_url + f"{table}.csv").content
        settings.LABEL_REPORT_INLINE_SOLUTIONS = 2
        csv = client.get(page_url + f"{table}.csv")
        assert csv.status_code == 200 and csv.content == on_request, table

    # Another reference has no stored result yet: 202 with the Run computing it.
    other = client.get(api_url + "?reference=judge:a")
    assert other.status_code == 202
    body = other.json()
    assert body["kind"] == "label_report" and body["params"]["reference"] == "judge:a"
    wait_for_run(Run.objects.get(pk=body["id"]), timeout=120)
    done = client.get(api_url + "?reference=judge:a")
    assert done.status_code == 200 and done.json()["reference"] == "judge:a"
    # POST recomputes: 202 with a new Run.
    again = client.post(api_url)
    assert again.status_code == 202 and again.json()["id"] != run.pk
    wait_for_run(Run.objects.get(pk=again.json()["id"]), timeout=120)
    assert client.get(api_url + "?consensus=nonsense").status_code == 400
    # Another anchoring source is a Run of its own; a human one is refused before any Run.
    judged = client.get(api_url + "?anchoring=judge:b")
    assert judged.status_code == 202 and judged.json()["params"]["anchoring"] == "judge:b"
    wait_for_run(Run.objects.get(pk=judged.json()["id"]), timeout=120)
    assert client.get(api_url + "?anchoring=judge:b").json()["anchoring"]["source"] == "judge:b"
    assert client.get(api_url + "?anchoring=human:lr-human").status_code == 400
