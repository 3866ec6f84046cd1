"""Every URL refuses everyone its rule keeps out, at another project's objects.

The walk (tests/authz_walk.py, shared with bench/security.py) goes through the whole URL conf
(django.urls.get_resolver), with a victim project's ids and slugs in each URL's arguments, as
anonymous, the project's annotator and reviewer, an admin of another project, the victim
admin's read token and the outsider's write token, with GET, POST, PUT, PATCH and DELETE. A
URL name without a rule in its table fails here, so a view added later is walked too.
"""

import pytest
from django.core import signals
from django.db import close_old_connections
from django.test import Client
from django.urls import include, path

from annotate.models import Project
from tests import authz_walk as aw

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def clients(world: aw.World) -> dict:
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    out = {"anonymous": Client()}
    for actor in ("annotator", "reviewer", "outsider"):
        out[actor] = Client()
        out[actor].force_login(users.get(username=world.usernames[actor]))
    for actor in ("read-token", "write-token"):
        out[actor] = Client(HTTP_AUTHORIZATION=f"Bearer {world.tokens[actor]}")
    for client in out.values():
        client.raise_request_exception = False
    return out


def sender(world: aw.World):
    by_actor = clients(world)

    def send(probe: aw.Probe) -> aw.Answer:
        response = by_actor[probe.actor].generic(
            probe.method, probe.path, probe.body,
            content_type=probe.content_type or "application/octet-stream")
        body = b"".join(response) if response.streaming else response.content
        if response.streaming:
            # close() sends request_finished, which would close the test's DB connection.
            signals.request_finished.disconnect(close_old_connections)
            try:
                response.close()
            finally:
                signals.request_finished.connect(close_old_connections)
        return aw.Answer(response.status_code, response.get("Location", ""), body)

    return send


def test_every_url_name_has_a_rule():
    found, problems = aw.targets()
    assert not problems, "\n".join(problems)
    names = {t.name for t in found}
    assert {"manage:settings", "api:export-download", "annotate:rate", "prm_api:reward",
            "training:detail", "search:start"} <= names
    assert any(name.startswith("admin:") for name in names)


def test_no_actor_reaches_the_victims_objects():
    world = aw.build_world()
    report = aw.walk(sender(world))
    assert report.requests > 1500  # every URL, actor and method: nothing silently left out
    assert not report.problems, "\n".join(report.problems)
    assert not report.server_errors, "5xx:\n" + "\n".join(report.server_errors)
    assert not report.offenders, "cross-tenant access:\n" + "\n".join(report.offenders)


def test_django_admin_refuses_non_staff(client, make_user):
    aw.build_world()
    client.force_login(make_user("plain"))
    response = client.get(f"/django-admin/annotate/goldlabel/{aw.IDS['gold']}/change/")
    assert response.status_code == 302 and "login" in response["Location"]


# --- The walk itself: an unknown URL and a leaking view are caught ------------------------------

def leaky_view(request, slug):
    """A view that forgot its permission check."""
    from django.http import HttpResponse

    project = Project.objects.get(slug=slug)
    if request.method == "POST":
        project.description = "changed"
        project.save(update_fields=["description"])
    return HttpResponse(project.name)


urlpatterns = [path("leaky/<slug:slug>/", leaky_view, name="leaky"),
               path("", include("stepwise.urls"))]


def test_a_url_without_a_rule_fails_the_walk(settings):
    settings.ROOT_URLCONF = __name__
    _, problems = aw.targets()
    assert problems == ["no authorization rule for leaky"]


def test_a_view_without_a_check_is_an_offender(settings, monkeypatch):
    settings.ROOT_URLCONF = __name__
    monkeypatch.setattr(aw, "RULES", {"leaky": aw.R("admin", aw.SLUG_ARG, body={})})
    world = aw.build_world()
    report = aw.walk(sender(world))
    assert "outsider GET /leaky/victim-zeta/ (leaky) -> 200 where the rule is admin" in report.offenders
    assert any(o.startswith("leaky: the victim's data changed") for o in report.offenders)


def test_foreign_ids_from_an_own_project_are_refused():
    """The outsider names the victim's problems, solutions, model and snapshot inside requests
    about its own project: each is refused (or finds nothing), and the victim is unchanged."""
    world = aw.build_world()
    api = Client(HTTP_AUTHORIZATION=f"Bearer {world.tokens['write-token']}")
    api.raise_request_exception = False
    before = aw.fingerprint()
    failures = []
    for request in aw.foreign_requests(world.ids):
        response = api.generic(request.method, request.path, request.body,
                               content_type="application/json")
        body = b"".join(response) if response.streaming else response.content
        if response.status_code >= 500 or aw.foreign_offence(request, response.status_code, body):
            failures.append(f"{request.what}: {request.method} {request.path} -> "
                            f"{response.status_code} {body[:200]!r}")
    assert not failures, "\n".join(failures)
    assert aw.fingerprint() == before
