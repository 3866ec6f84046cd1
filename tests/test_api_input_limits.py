"""Hostile input to the API is a specific 400, never a 500: JSON nested deeper than the
parser's bound, lone surrogates, NUL bytes on the reward endpoints, and crafted cursors on
every cursor-paginated list."""

import base64
import json

import pytest
from rest_framework.test import APIClient

from api.models import APIToken, RewardUrl, hash_key
from api.parsers import MAX_JSON_DEPTH, nesting_exceeds
from tests.exports_data import build
from tests.test_api_resources import api
from training.models import PrmModel

pytestmark = pytest.mark.django_db

DEEP = "[" * 2000 + "]" * 2000


@pytest.fixture
def lab(make_user):
    lab = build(make_user, slug="limits")
    lab["model"] = PrmModel.objects.create(project=lab["project"], name="limits-prm",
                                           base_model="demo-base", status=PrmModel.Status.READY)
    key = APIToken.generate_key()
    RewardUrl.objects.create(prm_model=lab["model"], name="rl", prefix=key[:10],
                             key_hash=hash_key(key), created_by=lab["users"]["admin"])
    lab["reward_key"] = key
    return lab


def _json_posts(lab) -> list[tuple[APIClient, str]]:
    """(client, path) of every POST that takes JSON: ingest, runs, exports, reward."""
    admin = api(lab["users"]["admin"])
    model = lab["model"].pk
    return [(admin, "/api/problems/bulk/"), (admin, "/api/solutions/bulk/"),
            (admin, "/api/traces/bulk/"),
            (admin, "/api/runs/"), (admin, "/api/exports/"),
            (admin, f"/api/prm/{model}/score/"), (admin, f"/api/prm/{model}/openrlhf/"),
            (APIClient(), f"/api/prm/reward/{lab['reward_key']}/")]


def test_deep_json_is_a_400_everywhere(lab):
    body = f'{{"project": {lab["project"].pk}, "items": {DEEP}, "query": {DEEP}}}'
    for client, path in _json_posts(lab):
        resp = client.post(path, body, content_type="application/json")
        assert resp.status_code == 400, (path, resp.status_code, resp.content[:300])
        assert f"nested more than {MAX_JSON_DEPTH} levels deep" in resp.json()["detail"], path


def test_nesting_inside_strings_does_not_count_and_the_bound_is_exact():
    assert not nesting_exceeds(json.dumps({"text": DEEP, "q": '"\\"[[['}), 4)
    assert not nesting_exceeds("[" * 64 + "]" * 64, 64)
    assert nesting_exceeds("[" * 65 + "]" * 65, 64)
    assert nesting_exceeds('{"a": [{"b": [[1]]}]}', 4)


def test_lone_surrogate_is_a_400_naming_the_field(lab):
    score = json.dumps({"items": [{"problem": "a\ud800", "steps": ["x"]}]})
    openrlhf = json.dumps({"query": ["ok", "a\udfff"], "prompts": ["p", "p"]})
    for client, path in _json_posts(lab):
        body, field = ((score, "items.0.problem") if path.endswith("/score/")
                       else (openrlhf, "query.1"))
        resp = client.post(path, body, content_type="application/json")
        assert resp.status_code == 400, (path, resp.status_code, resp.content[:300])
        assert "lone UTF-16 surrogate" in resp.json()[field], path


def test_nul_bytes_are_refused_on_the_reward_endpoints(lab):
    for client, path in _json_posts(lab)[4:]:
        if path.endswith("/score/"):
            body, field = {"items": [{"problem": "p\x00", "steps": ["x"]}]}, "items.0.problem"
        else:
            body, field = {"query": ["q\x00"], "prompts": ["q"]}, "query.0"
        resp = client.post(path, json.dumps(body), content_type="application/json")
        assert resp.status_code == 400, (path, resp.status_code, resp.content[:300])
        assert resp.json() == {field: f"'{field}' contains a NUL byte."}, path


def test_a_valid_body_still_parses(lab):
    admin = api(lab["users"]["admin"])
    nested = {"a": {"b": [[{"c": ["é ✓ \ud83d\ude00"]}]]}}
    resp = admin.post("/api/problems/bulk/", json.dumps({
        "project": lab["project"].pk, "items": [{"statement": "What is 1+1? 😀",
                                                 "external_id": "ok-1", "metadata": nested}]}),
        content_type="application/json")
    assert resp.status_code in (200, 201), resp.content
    assert resp.json()["created"] == 1


CURSOR_LISTS = ["/api/problems/", "/api/solutions/", "/api/assignments/", "/api/runs/",
                "/api/exports/", "/api/models/"]


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize("cursor", [
    _cursor("o=0&r=0&p=not-a-timestamp"),
    _cursor("o=0&r=0&p=2026-13-45 99:00:00+00:00"),
    _cursor("o=0&r=1&p=0001-01-01 00:00:00+23:00"),
    _cursor("p=2026-01-01\x00"),
    "%%%not-base64",
    _cursor("o=-3"),
])
def test_a_bad_cursor_is_a_400_on_every_paginated_list(lab, cursor):
    admin = api(lab["users"]["admin"])
    for path in CURSOR_LISTS:
        resp = admin.get(path, {"cursor": cursor})
        assert resp.status_code == 400, (path, resp.status_code, resp.content[:300])
        assert resp.json() == {"cursor": "Give a cursor from a page's next or previous link."}


def test_a_real_cursor_still_pages(lab):
    admin = api(lab["users"]["admin"])
    first = admin.get("/api/problems/", {"page_size": 1}).json()
    assert first["next"]
    second = admin.get(first["next"]).json()
    assert second["results"] and second["results"][0]["id"] != first["results"][0]["id"]
