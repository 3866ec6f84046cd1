"""Error pages a person meets: styled like the rest of the site, with the reason, and a
routine 403 or 404 logs one line without a traceback."""

import logging

import pytest

from annotate.models import Membership

from .manage_factories import add, make_project

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def test_forbidden_page_is_styled_and_logs_no_traceback(client, make_user, caplog):
    admin = make_user("owner")
    project = make_project("private", admin=admin)
    add(project, make_user("annot"), Membership.Role.ANNOTATOR)
    client.login(username="annot", password="pw-for-tests")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(f"/manage/{project.slug}/members/")
    assert response.status_code == 403
    body = response.content.decode()
    assert 'id="error-page"' in body and "stepwise.css" in body
    assert "Your role in this project does not allow this page." in body
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records and all(r.exc_info is None for r in records)
    assert "Traceback" not in caplog.text


def test_not_found_page_is_styled(client, make_user):
    make_user("someone")
    client.login(username="someone", password="pw-for-tests")
    response = client.get("/manage/no-such-project/members/")
    assert response.status_code == 404
    body = response.content.decode()
    assert 'id="error-page"' in body and "No such project." in body
