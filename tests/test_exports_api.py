"""Export snapshots through the API and a real Celery worker; streaming; who may export."""

import hashlib
import itertools
import json

import pytest
from rest_framework.test import APIClient

from api.services import issue_token
from exports.models import ExportSnapshot
from tests.conftest import wait_for_run
from tests.exports_data import build

_names = itertools.count()


def api(user, scope="write"):
    _, key = issue_token(user=user, name=f"t-{scope}-{next(_names)}", scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_snapshot_built_by_worker_then_downloaded(make_user, celery_worker, settings, tmp_path):
    lab = build(make_user, slug="snap")
    reviewer = api(lab["users"]["reviewer"])
    spec = {"projects": [lab["project"].pk], "format": "trl", "test_fraction": 0.5,
            "split_seed": "x"}
    resp = reviewer.post("/api/exports/", {"spec": spec}, format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["version"] == 1 and body["status"] == "pending"
    snap = ExportSnapshot.objects.get(pk=body["id"])
    run = wait_for_run(snap.run, timeout=120)
    assert run.status == "succeeded", run.error
    detail = reviewer.get(f"/api/exports/{snap.pk}/").json()
    assert detail["status"] == "ready" and detail["row_count"] == 3
    assert detail["filters"]["test_fraction"] == 0.5
    assert detail["created_by"] == lab["users"]["reviewer"].pk
    lines = []
    for split, info in detail["files"].items():
        resp = reviewer.get(f"/api/exports/{snap.pk}/download/", {"split": split})
        assert resp.status_code == 200
        data = b"".join(resp.streaming_content)
        assert hashlib.sha256(data).hexdigest() == info["sha256"]
        lines += [json.loads(x) for x in data.decode().splitlines()]
    assert len(lines) == 3 and all(set(r) == {"prompt", "completions", "labels", "label_source"}
                                   for r in lines)
    # a second export of the same spec is a new version; the first one is unchanged
    second = reviewer.post("/api/exports/", {"spec": spec}, format="json").json()
    assert second["version"] == 2
    wait_for_run(ExportSnapshot.objects.get(pk=second["id"]).run, timeout=120)
    assert ExportSnapshot.objects.get(pk=second["id"]).content_hash == detail["content_hash"]


@pytest.mark.portable
@pytest.mark.django_db
def test_annotators_and_outsiders_cannot_export(make_user):
    lab = build(make_user, slug="perm")
    spec = {"spec": {"projects": [lab["project"].pk], "format": "trl"}}
    for who in ("annotator", "outsider"):
        client = api(lab["users"][who])
        assert client.post("/api/exports/", spec, format="json").status_code == 403
        assert client.get("/api/exports/stream/", {"project": lab["project"].pk}).status_code \
            == 403
    assert ExportSnapshot.objects.count() == 0
    read_only = api(lab["users"]["admin"], scope="read")
    assert read_only.post("/api/exports/", spec, format="json").status_code == 403
    assert api(lab["users"]["admin"]).post("/api/exports/", {"spec": {"projects": [999999]}},
                                           format="json").status_code == 400


@pytest.mark.portable
@pytest.mark.django_db
def test_streaming_jsonl_endpoint(make_user):
    lab = build(make_user, slug="stream")
    client = api(lab["users"]["reviewer"], scope="read")
    resp = client.get("/api/exports/stream/", {"project": lab["project"].pk, "format": "openrlhf",
                                                "finish_reason": "found_error"})
    assert resp.status_code == 200 and resp["Content-Type"] == "application/jsonl"
    rows = [json.loads(x) for x in b"".join(resp.streaming_content).decode().splitlines()]
    assert len(rows) == 1 and rows[0]["label"] == ["+", "-"]
    limited = client.get("/api/exports/stream/", {"project": lab["project"].pk, "limit": 1})
    assert len(b"".join(limited.streaming_content).decode().splitlines()) == 1
    assert client.get("/api/exports/stream/", {"project": lab["project"].pk,
                                               "format": "parquet"}).status_code == 400
    assert client.get("/api/exports/stream/", {"project": "x"}).status_code == 400
    assert client.get("/api/exports/stream/", {"project": lab["project"].pk,
                                               "min_agreement": "0.5"}).status_code == 400


@pytest.mark.portable
@pytest.mark.django_db
def test_multi_project_exports_need_the_role_in_every_project(make_user):
    from annotate.models import Membership

    one = build(make_user, slug="one")
    two = build(make_user, slug="two")
    reviewer = one["users"]["reviewer"]
    Membership.objects.create(project=two["project"], user=reviewer, role="annotator")
    client = api(reviewer)
    both = {"spec": {"projects": [one["project"].pk, two["project"].pk], "format": "trl"}}
    resp = client.post("/api/exports/", both, format="json")
    assert resp.status_code == 403 and str(two["project"].pk) in resp.json()["detail"]
    Membership.objects.filter(project=two["project"], user=reviewer).update(role="reviewer")
    resp = client.post("/api/exports/", both, format="json")
    assert resp.status_code == 201
    snap_id = resp.json()["id"]
    assert resp.json()["name"] == "one+two-trl"
    # others see it only with the export role in both projects
    assert [e["id"] for e in client.get("/api/exports/").json()["results"]] == [snap_id]
    assert api(one["users"]["admin"]).get(f"/api/exports/{snap_id}/").status_code == 404
    assert api(one["users"]["admin"]).get("/api/exports/").json()["results"] == []
    # not built yet (no worker here): download says so
    assert client.get(f"/api/exports/{snap_id}/download/").status_code == 409
