"""Admin pages: create, edit, keymap validation, archive, members and roles."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotate.models import Membership, Project

from .manage_factories import add, make_project

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

FORM = {
    "name": "Geometry phase 2", "description": "", "instructions": "# Rate *each* step\n<script>x</script>",
    "mode": "first_error", "rating_scale": "prm800k", "overlap": "3",
    "candidates_per_position": "5", "queue_strategy": "sequential", "lease_seconds": "3600",
    "gold_rate": "0.1", "screening_items": "30", "screening_threshold": "0.75",
    "keymap": "great = 1\nokay = 2\nbad = 3",
}


def test_create_edit_archive(client, make_user):
    staff = make_user("staff", is_staff=True)
    client.force_login(staff)
    r = client.post(reverse("manage:create"), FORM)
    assert r.status_code == 302, r.content.decode()[:2000]
    project = Project.objects.get(name="Geometry phase 2")
    assert (project.slug, project.overlap, project.screening_items) == ("geometry-phase-2", 3, 30)
    assert Membership.objects.get(project=project, user=staff).role == "admin"
    assert project.keymap["great"] == "1"

    page = client.get(reverse("manage:settings", args=[project.slug])).content.decode()
    assert "<h1>Rate <em>each</em> step</h1>" in page and "<script>x</script>" not in page

    # A key bound twice is refused with a message naming both actions; nothing is saved.
    r = client.post(reverse("manage:settings", args=[project.slug]),
                    {**FORM, "overlap": "5", "keymap": "great = g\nbad = g"})
    assert r.status_code == 400
    assert "Key &#x27;g&#x27; is bound to both" in r.content.decode()
    project.refresh_from_db()
    assert project.overlap == 3
    # Out-of-range values are refused too.
    r = client.post(reverse("manage:settings", args=[project.slug]), {**FORM, "gold_rate": "1.5"})
    assert r.status_code == 400
    r = client.post(reverse("manage:settings", args=[project.slug]),
                    {**FORM, "queue_strategy": "no-such-strategy"})
    assert r.status_code == 400

    r = client.post(reverse("manage:settings", args=[project.slug]),
                    {**FORM, "overlap": "2", "mode": "branch", "keymap": "great = q"})
    assert r.status_code == 302
    project.refresh_from_db()
    assert (project.overlap, project.mode, project.effective_keymap["great"]) == (2, "branch", "q")

    preview = client.post(reverse("manage:preview", args=[project.slug]),
                          {"instructions": "**bold** <b>raw</b>"})
    assert "<strong>bold</strong>" in preview.content.decode()
    assert "<b>raw</b>" not in preview.content.decode()

    client.post(reverse("manage:archive", args=[project.slug]))
    project.refresh_from_db()
    assert project.archived_at is not None
    assert Project.objects.filter(pk=project.pk).exists()
    client.post(reverse("manage:archive", args=[project.slug]), {"undo": "1"})
    project.refresh_from_db()
    assert project.archived_at is None


def test_only_staff_or_admins_create(client, make_user):
    client.force_login(make_user("nobody"))
    assert client.post(reverse("manage:create"), FORM).status_code == 403
    assert not Project.objects.exists()


def test_members_add_create_roles(client, make_user):
    admin = make_user("admin")
    project = make_project("team", admin=admin)
    make_user("existing")
    client.force_login(admin)
    url = reverse("manage:members", args=[project.slug])

    # An account outside the admin's projects is added with a password (which it ignores:
    # the answer must not tell whether the name existed; docs/security.md).
    r = client.post(url, {"username": "existing", "role": "reviewer",
                          "password": "a-long-enough-password"})
    assert r.status_code == 302
    r = client.post(url, {"username": "newbie", "role": "annotator",
                          "password": "a-long-enough-password"})
    assert r.status_code == 302
    newbie = get_user_model().objects.get(username="newbie")
    assert newbie.check_password("a-long-enough-password")
    assert Membership.objects.get(project=project, user=newbie).role == "annotator"

    r = client.post(url, {"username": "ghost", "role": "annotator"})
    assert r.status_code == 400 and "give a password" in r.content.decode()
    assert not get_user_model().objects.get(username="existing").check_password(
        "a-long-enough-password")
    r = client.post(url, {"username": "existing", "role": "annotator"})
    assert r.status_code == 400 and "already a member" in r.content.decode()
    r = client.post(url, {"username": "weak", "role": "annotator", "password": "x"})
    assert r.status_code == 400
    assert not get_user_model().objects.filter(username="weak").exists()

    m = Membership.objects.get(project=project, user=newbie)
    r = client.post(reverse("manage:set_role", args=[project.slug, m.pk]), {"role": "admin"})
    assert r.status_code == 302
    m.refresh_from_db()
    assert m.role == "admin"
    r = client.post(reverse("manage:set_role", args=[project.slug, m.pk]), {"role": "boss"})
    assert r.status_code == 400

    # The last admin cannot be demoted or removed.
    client.post(reverse("manage:remove_member", args=[project.slug, m.pk]))
    assert not Membership.objects.filter(pk=m.pk).exists()
    mine = Membership.objects.get(project=project, user=admin)
    r = client.post(reverse("manage:set_role", args=[project.slug, mine.pk]), {"role": "annotator"})
    assert r.status_code == 400 and "at least one admin" in r.content.decode()
    r = client.post(reverse("manage:remove_member", args=[project.slug, mine.pk]))
    assert r.status_code == 400

    # A membership of another project cannot be edited through this one.
    other = make_project("other", admin=make_user("other-admin"))
    theirs = add(other, make_user("their-annotator"))
    r = client.post(reverse("manage:set_role", args=[project.slug, theirs.pk]), {"role": "admin"})
    assert r.status_code == 404
    theirs.refresh_from_db()
    assert theirs.role == "annotator"


def test_manage_nav_link(client, make_user):
    admin, annot = make_user("navadmin"), make_user("navannot")
    project = make_project("nav", admin=admin)
    add(project, annot)
    client.force_login(annot)
    page = client.get(reverse("annotate:home")).content.decode()
    assert 'id="nav-manage"' not in page and 'id="nav-training"' not in page
    client.force_login(admin)
    page = client.get(reverse("annotate:home")).content.decode()
    assert 'id="nav-manage"' in page and 'id="nav-training"' in page
    index = client.get(reverse("manage:index")).content.decode()
    assert 'data-project="nav"' in index
