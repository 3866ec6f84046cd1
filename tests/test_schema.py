"""The OpenAPI schema validates; the docs page needs no CDN; schemathesis finds no 5xx and
no response that violates the schema, using a real token on real data."""

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from api.services import issue_token
from tests.exports_data import build


@pytest.mark.portable
def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/exports/stream/:" in out.read_text()
    assert "tokenAuth" in out.read_text()


@pytest.mark.portable
@pytest.mark.django_db
def test_docs_page_serves_swagger_from_our_static_files(make_user):
    from django.contrib.staticfiles import finders

    client = APIClient()
    client.force_login(make_user("docs"))
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in html
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


@pytest.mark.portable
@pytest.mark.django_db
def test_api_fuzz(make_user, settings, tmp_path):
    """Every operation, fuzzed by hypothesis from the schema, called through WSGI. Detail
    routes get the ids of real objects, so their views run past the 404."""
    settings.EXPORTS_DIR = tmp_path / "exports"
    lab = build(make_user, slug="fuzz")
    ids, key = _real_objects(lab)
    # As Django's test client does: keep the test's connection (and transaction) open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        _fuzz_all(key, ids)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _real_objects(lab) -> tuple[dict[tuple[str, str], int], str]:
    """(method, first path segment) -> a real id the admin may read; and the admin's key.
    DELETE on a token revokes a second one: never the token the fuzz authenticates with."""
    from exports.services import build_snapshot, create_snapshot
    from training.models import PrmModel

    admin, project = lab["users"]["admin"], lab["project"]
    token, key = issue_token(user=admin, name="fuzz", scope="write")
    spare, _ = issue_token(user=admin, name="fuzz-spare", scope="read")
    snapshot = create_snapshot(user=admin, raw_spec={"projects": [project.pk], "format": "trl"})
    build_snapshot(snapshot.pk)
    snapshot.refresh_from_db()
    assert snapshot.status == "ready"
    model = PrmModel.objects.create(project=project, name="fuzz-prm", base_model="demo-base",
                                    status=PrmModel.Status.READY)
    s1 = lab["solutions"]["s1"]
    by_route = {"projects": project.pk, "problems": s1.problem_id, "solutions": s1.pk,
                "assignments": lab["assignments"]["a1"].pk, "runs": snapshot.run_id,
                "exports": snapshot.pk, "models": model.pk, "tokens": token.pk}
    ids = {(method, route): pk for route, pk in by_route.items() for method in ("get", "post")}
    ids[("delete", "tokens")] = spare.pk
    # Critiques: written on an assignment, corrected at /api/critiques/<id>/review/.
    from annotate.models import Critique

    a1 = lab["assignments"]["a1"]
    critique = Critique.objects.create(assignment=a1, node_id=a1.ratings.first().node_id,
                                       author=a1.annotator, text="fuzz critique")
    ids.update({("patch", "assignments"): a1.pk, ("delete", "assignments"): a1.pk,
                ("patch", "critiques"): critique.pk})
    return ids, key


def _fuzz_all(key, ids):
    from hypothesis import given

    from stepwise.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    # Our resources only: the training app's reward API under /api/prm/ is tested there.
    schema = schema.exclude(path_regex=r"^/api/prm/")
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    with_ids = [op for op in operations if op.path_parameters]
    assert len(with_ids) >= 10

    for operation in operations:
        route = operation.path.split("/")[2]
        fixed = {p.name: ids[(operation.method.lower(), route)] for p in operation.path_parameters}

        @given(case=operation.as_strategy(path_parameters=fixed or None))
        @hypothesis_settings(max_examples=10, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=checks)

        fuzz()


@pytest.mark.portable
@pytest.mark.django_db
def test_api_fuzz_deep_json_and_crafted_cursors(make_user, settings, tmp_path):
    """Every JSON operation of the schema (the reward API too) gets bodies nested 65 to
    3,000 levels, and every cursor-paginated list gets crafted cursors: a 4xx each time."""
    import base64

    from hypothesis import given
    from hypothesis import strategies as st

    from stepwise.wsgi import application

    settings.EXPORTS_DIR = tmp_path / "exports"
    lab = build(make_user, slug="fuzzdeep")
    ids, key = _real_objects(lab)
    ids.update({(m, "prm"): ids[(m, "models")] for m in ("get", "post")})
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    # As in test_api_fuzz: the WSGI call must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    operations = [result.ok() for result in schema.get_all_operations()]

    def url(operation) -> str:
        route = operation.path.split("/")[2]
        path = operation.path
        for p in operation.path_parameters:
            value = ids.get((operation.method.lower(), route), "k" * 40)
            path = path.replace(f"{{{p.name}}}", str(value))
        return path

    posts = [op for op in operations if op.method.lower() == "post"
             and "application/json" in op.get_request_payload_content_types()]
    lists = [op for op in operations if op.method.lower() == "get"
             and any(p.name == "cursor" for p in op.query)]
    assert len(posts) >= 8 and len(lists) >= 6

    deep = st.builds(lambda depth, opener: opener * depth + "1" + "]" * depth
                     if opener == "[" else '{"a":' * depth + "1" + "}" * depth,
                     st.integers(65, 3000), st.sampled_from(["[", '{"a":']))
    cursors = st.builds(
        lambda o, r, p: base64.b64encode(f"o={o}&r={r}&p={p}".encode()).decode(),
        st.integers(-5, 10**6), st.sampled_from(["0", "1", "x"]),
        st.one_of(st.text(max_size=40), st.from_regex(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
                                                      r"(\.\d{1,6})?[+-]\d{2}:\d{2}",
                                                      fullmatch=True)))
    current = [None]  # the operation under test (hypothesis takes no default arguments)
    for operation in posts:
        current[0] = operation

        @given(body=deep)
        @hypothesis_settings(max_examples=4, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(HealthCheck))
        def post_deep(body):
            path = url(current[0])
            resp = client.post(path, body, content_type="application/json")
            assert resp.status_code < 500, (path, resp.status_code)
            if resp.status_code == 400:
                assert "nested more than 64 levels" in resp.json()["detail"], path

        post_deep()
    for operation in lists:
        current[0] = operation

        @given(cursor=cursors)
        @hypothesis_settings(max_examples=15, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(HealthCheck))
        def get_cursor(cursor):
            path = url(current[0])
            resp = client.get(path, {"cursor": cursor})
            assert resp.status_code in (200, 400), (path, cursor, resp.status_code)

        get_cursor()
