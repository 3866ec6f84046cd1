"""API tokens: issued once, hashed, scoped, revocable at once, never in logs."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import APIToken, hash_key
from api.services import issue_token

pytestmark = [pytest.mark.portable, pytest.mark.django_db]


def client_for(key=None):
    client = APIClient()
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_session_creates_token_shown_once_and_stored_hashed(make_user):
    user = make_user("alice")
    client = APIClient()
    client.force_login(user)
    resp = client.post("/api/tokens/", {"name": "trainer", "scope": "read"}, format="json")
    assert resp.status_code == 201
    key = resp.json()["key"]
    token = APIToken.objects.get(user=user, name="trainer")
    assert token.key_hash == hash_key(key) and key not in (token.prefix, token.key_hash)
    listed = client.get("/api/tokens/").json()
    assert "key" not in listed[0] and listed[0]["prefix"] == key[:10]
    assert client_for(key).get("/api/projects/").status_code == 200
    # the same name twice is a specific 400, not a 500
    again = client.post("/api/tokens/", {"name": "trainer"}, format="json")
    assert again.status_code == 400 and "name" in again.json()


def test_tokens_cannot_mint_tokens(make_user):
    _, key = issue_token(user=make_user("bob"), name="w", scope="write")
    resp = client_for(key).post("/api/tokens/", {"name": "x"}, format="json")
    assert resp.status_code == 403


def test_revoked_token_stops_at_once(make_user):
    user = make_user("carol")
    token, key = issue_token(user=user, name="ci", scope="write")
    other, other_key = issue_token(user=user, name="other", scope="read")
    api = client_for(key)
    assert api.get("/api/projects/").status_code == 200
    assert api.delete(f"/api/tokens/{other.pk}/").status_code == 204
    assert client_for(other_key).get("/api/projects/").status_code == 401
    assert api.delete(f"/api/tokens/{token.pk}/").status_code == 204
    resp = api.get("/api/projects/")
    assert resp.status_code == 401 and resp.json()["detail"] == "Token revoked."
    assert resp["WWW-Authenticate"].startswith("Bearer")


def test_expired_and_unknown_tokens_are_refused(make_user):
    user = make_user("dave")
    token, key = issue_token(user=user, name="short",
                             expires_at=timezone.now() + timedelta(hours=1))
    assert client_for(key).get("/api/projects/").status_code == 200
    APIToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client_for(key).get("/api/projects/").json()["detail"] == "Token expired."
    assert client_for("sw_" + "x" * 40).get("/api/projects/").status_code == 401
    assert client_for().get("/api/projects/").status_code in (401, 403)


def test_read_scope_cannot_write(make_user):
    _, key = issue_token(user=make_user("erin"), name="ro", scope="read")
    resp = client_for(key).post("/api/problems/bulk/", {"project": 1, "items": [{}]},
                                format="json")
    assert resp.status_code == 403 and "read-only" in resp.json()["detail"]


def test_tokens_never_reach_the_logs(make_user, caplog, settings):
    """Requests that log (4xx warnings from django.request, our own loggers) never carry the
    key, and the redacting filter masks one even if some code logs it by mistake."""
    from api.log_filters import RedactTokens

    user = make_user("frank")
    token, key = issue_token(user=user, name="log", scope="read")
    caplog.set_level(logging.DEBUG)
    client_for(key).get("/api/projects/999999/")  # 404, logged by django.request
    client_for(key).post("/api/problems/bulk/", {}, format="json")  # 403
    APIToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    client_for(key).get("/api/projects/")  # 401
    assert caplog.records, "the requests above should have logged something"
    assert key not in caplog.text and key[10:] not in caplog.text
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "oops %s", (key,), None)
    assert RedactTokens().filter(record) and key not in record.getMessage()
    handlers = settings.LOGGING["handlers"].values()
    assert any("redact_tokens" in h.get("filters", []) for h in handlers)


def test_throttling_uses_configured_rates(make_user, settings):
    from django.core.cache import cache

    cache.clear()
    settings.STEPWISE_API_RATES = {"user": "3/minute", "anon": "2/minute"}
    _, key = issue_token(user=make_user("gina"), name="t")
    codes = [client_for(key).get("/api/projects/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    cache.clear()


def test_command_issues_a_working_token(make_user, capsys):
    from django.core.management import call_command

    make_user("henry")
    call_command("create_api_token", "henry", "cli", "--scope", "write", "--days", "1")
    key = capsys.readouterr().out.strip()
    assert key.startswith("sw_")
    token = APIToken.objects.get(name="cli")
    assert token.scope == "write" and token.expires_at is not None
    assert client_for(key).get("/api/projects/").status_code == 200


def test_browser_token_page_shows_the_key_once_and_revokes(make_user):
    from django.test import Client

    user = make_user("ivy")
    browser = Client()
    browser.force_login(user)
    page = browser.get("/api/tokens/manage/")
    assert page.status_code == 200 and b"No tokens yet" in page.content
    made = browser.post("/api/tokens/manage/", {"name": "laptop", "scope": "write", "days": "30"})
    html = made.content.decode()
    token = APIToken.objects.get(user=user, name="laptop")
    key = html.split('<code id="key">')[1].split("</code>")[0]
    assert token.key_hash == hash_key(key) and token.scope == "write" and token.expires_at
    assert client_for(key).get("/api/projects/").status_code == 200
    assert key not in browser.get("/api/tokens/manage/").content.decode()  # shown once
    bad = browser.post("/api/tokens/manage/", {"name": "x", "days": "0"})
    assert bad.status_code == 400 and "Expiry" in bad.content.decode()
    again = browser.post("/api/tokens/manage/", {"name": "laptop", "scope": "read"})
    assert again.status_code == 400
    assert "You already have a live token with this name." in again.content.decode()
    browser.post("/api/tokens/manage/", {"revoke": str(token.pk)})
    assert client_for(key).get("/api/projects/").status_code == 401
    other = make_user("jack")
    theirs, _ = issue_token(user=other, name="theirs")
    assert browser.post("/api/tokens/manage/", {"revoke": str(theirs.pk)}).status_code == 404
    assert Client().get("/api/tokens/manage/").status_code == 302  # login first
