"""Role x action matrix of the admin pages: annotators get nothing, reviewers get review and
read-only quality pages, admins get everything; other projects' admins get a 404."""

import pytest
from django.urls import reverse

from annotate.models import Membership

from .manage_factories import add, make_project, make_solution, rate

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

ADMIN_ONLY = ["settings", "members", "import", "gold", "screening"]
STAFF = ["dashboard", "agreement", "review", "audit"]


@pytest.fixture
def world(make_user):
    users = {role: make_user(role) for role in ("admin", "reviewer", "annotator", "outsider")}
    project = make_project("matrix", admin=users["admin"], overlap=2)
    add(project, users["reviewer"], Membership.Role.REVIEWER)
    add(project, users["annotator"])
    make_project("elsewhere", admin=users["outsider"])
    solution = make_solution(project, n_steps=2)
    assignment = rate(solution, users["annotator"], [1, -1])
    return project, users, assignment


EXPECTED = {
    "admin": {**{n: 200 for n in ADMIN_ONLY}, **{n: 200 for n in STAFF}},
    "reviewer": {**{n: 403 for n in ADMIN_ONLY}, **{n: 200 for n in STAFF}},
    "annotator": {**{n: 403 for n in ADMIN_ONLY}, **{n: 403 for n in STAFF}},
    "outsider": {**{n: 404 for n in ADMIN_ONLY}, **{n: 404 for n in STAFF}},
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_page_matrix(world, client, role):
    project, users, assignment = world
    client.force_login(users[role])
    got = {name: client.get(reverse(f"manage:{name}", args=[project.slug])).status_code
           for name in ADMIN_ONLY + STAFF}
    assert got == EXPECTED[role]
    detail = client.get(reverse("manage:review_detail", args=[project.slug, assignment.pk]))
    assert detail.status_code == EXPECTED[role]["review"]
    csv = client.get(reverse("manage:table_csv", args=[project.slug, "labels"]))
    assert csv.status_code == EXPECTED[role]["dashboard"]


@pytest.mark.parametrize("role,allowed", [("admin", True), ("reviewer", True),
                                          ("annotator", False), ("outsider", False)])
def test_review_action_matrix(world, client, role, allowed):
    project, users, assignment = world
    client.force_login(users[role])
    r = client.post(reverse("manage:review_detail", args=[project.slug, assignment.pk]),
                    {"action": "accept"})
    assert (r.status_code == 302) == allowed
    assert assignment.review_decisions.exists() == allowed


@pytest.mark.parametrize("role,allowed", [("admin", True), ("reviewer", False),
                                          ("annotator", False), ("outsider", False)])
def test_admin_action_matrix(world, client, role, allowed):
    project, users, _ = world
    client.force_login(users[role])
    # "outsider" shares no project with the admin: added with a password, as any name.
    r = client.post(reverse("manage:members", args=[project.slug]),
                    {"username": "outsider", "role": "admin", "password": "a-long-enough-password"})
    assert (r.status_code == 302) == allowed
    assert Membership.objects.filter(project=project, user__username="outsider").exists() == allowed
    r = client.post(reverse("manage:archive", args=[project.slug]))
    project.refresh_from_db()
    assert (project.archived_at is not None) == allowed
