"""Import through the browser path: upload -> real Celery import run -> progress -> report.

Every file under shared/data goes through the upload view (`test_import_*.py` cover the
command path); the worker is a real process on the test database.
"""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotate.models import Problem, Solution
from workers.models import Run

from .conftest import wait_for_run
from .manage_factories import make_project

FILES = [
    ("prm800k/phase1_sample.jsonl", "prm800k", ""),
    ("prm800k/phase2_sample.jsonl", "prm800k", ""),
    ("prmbench/prm800k_test_p2_circular.jsonl", "prmbench", ""),
    ("prmbench/prm800k_test_p2_counterfactual.jsonl", "prmbench", ""),
    ("math500/test.jsonl", "problems", "statement = question\nanswer = answer"),
    ("sampled/qwen2.5-7b_math_n15_mc_labels.jsonl", "math_shepherd", ""),
    ("sampled/llama3-8b_math_n15_mc_labels.jsonl", "math_shepherd", ""),
]


def _upload(client, project, name, data: bytes, fmt, field_map="", **extra):
    return client.post(reverse("manage:import", args=[project.slug]), {
        "file": SimpleUploadedFile(name, data), "fmt": fmt, "field_map": field_map, **extra})


def _lines(data: bytes) -> int:
    return sum(1 for line in data.decode("utf-8").splitlines() if line.strip())


def _run_from(response) -> Run:
    assert response.status_code == 302, response.content.decode()[:3000]
    run_id = int(re.search(r"/runs/(\d+)/", response["Location"]).group(1))
    return Run.objects.get(pk=run_id)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_every_shared_file_imports_through_the_ui(celery_worker, shared_data, client, make_user):
    admin = make_user("importer")
    client.force_login(admin)
    total = 0
    for rel, fmt, field_map in FILES:
        project = make_project(re.sub(r"[^a-z0-9]+", "-", rel.lower())[:60], admin=admin)
        data = (shared_data / rel).read_bytes()
        run = _run_from(_upload(client, project, rel.split("/")[-1], data, fmt, field_map))
        # While queued or running, the page polls itself every second.
        first = client.get(reverse("manage:run", args=[project.slug, run.pk])).content.decode()
        run.refresh_from_db()
        if not run.is_finished:
            assert 'hx-trigger="every 1s"' in first
        wait_for_run(run, timeout=240)
        assert run.status == Run.Status.SUCCEEDED, f"{rel}: {run.error}\n{run.log}"
        report = run.result
        rejected = report.get("rejected_count", len(report["rejected"]))
        assert report["created"] + report["duplicates"] + rejected == _lines(data), rel
        assert report["created"] > 0, f"{rel}: nothing created, {report}"
        assert Problem.objects.filter(project=project).exists()
        if fmt != "problems":
            assert Solution.objects.filter(project=project).exists(), rel
        if fmt == "prmbench":
            assert Solution.objects.filter(project=project, is_gold=True).exists()
        partial = client.get(reverse("manage:run", args=[project.slug, run.pk]),
                             HTTP_HX_REQUEST="true").content.decode()
        assert 'id="import-report"' in partial and "hx-trigger" not in partial
        assert f'<td class="created">{report["created"]}</td>' in partial
        total += report["created"]
    assert total > 1000

    # The same file again: every row is a duplicate, nothing new.
    project = make_project("again", admin=admin)
    data = (shared_data / "prm800k/phase2_sample.jsonl").read_bytes()
    wait_for_run(_run_from(_upload(client, project, "p2.jsonl", data, "prm800k")))
    again = wait_for_run(_run_from(_upload(client, project, "p2.jsonl", data, "prm800k")))
    assert (again.result["created"], again.result["duplicates"]) == (0, _lines(data))

    # Bad rows are rejected with their line numbers; good ones still land.
    project = make_project("csv-problems", admin=admin)
    csv_data = (b"q,a,topic\n\"What is 1+1?\",2,Algebra\n\"\",3,Algebra\n"
                b"\"What is 2+3?\",5,Algebra\n")
    run = wait_for_run(_run_from(_upload(client, project, "problems.csv", csv_data, "problems",
                                         "statement = q\nanswer = a\nsubject = topic")))
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.result["created"] == 2 and [r[0] for r in run.result["rejected"]] == [3]
    assert set(Problem.objects.filter(project=project).values_list("ground_truth_answer",
                                                                   flat=True)) == {"2", "5"}
    page = client.get(reverse("manage:run", args=[project.slug, run.pk])).content.decode()
    assert 'id="rejected-rows"' in page and "<td>3</td>" in page


@pytest.mark.django_db
@pytest.mark.portable
def test_upload_refusals(client, make_user, settings, tmp_path):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    settings.DATA_DIR = tmp_path
    admin = make_user("limits")
    project = make_project("limits", admin=admin)
    client.force_login(admin)
    r = _upload(client, project, "big.jsonl", b"x" * 101, "prm800k")
    assert r.status_code == 413 and "the limit is 100 bytes" in r.content.decode()
    r = _upload(client, project, "a.jsonl", b"{}\n", "prm800k", "statement = q")
    assert r.status_code == 400 and "takes no option" in r.content.decode()
    r = _upload(client, project, "a.jsonl", b"{}\n", "solutions", "", delimiter="(",
                delimiter_is_regex="on")
    assert r.status_code == 400 and "Not a valid regex" in r.content.decode()
    r = _upload(client, project, "a.jsonl", b"{}\n", "nonsense")
    assert r.status_code == 400
    assert not Run.objects.exists()
    # Refused uploads leave no file behind.
    assert not list((tmp_path / "uploads").glob("**/*.jsonl"))
    other = make_project("not-mine", admin=make_user("someone"))
    run = Run.objects.create(kind="import", project=other)
    assert client.get(reverse("manage:run", args=[project.slug, run.pk])).status_code == 404
