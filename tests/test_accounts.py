"""Accounts and sessions: sign-in and bad-token limits, one spelling per username, no
enumeration through the members form, no 500 when two requests create the same thing,
and a logout that stays final while Redis is paused (docs/security.md)."""

import os
import re
import signal
import subprocess
import sys
import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import Membership, Project
from annotate.services import projects as services
from tests.labeling_factories import add_member, make_project

User = get_user_model()


@pytest.mark.django_db
def test_fifty_wrong_passwords_then_the_right_one_is_throttled(make_user):
    make_user("target", password="the-right-password")
    browser = Client()
    for _ in range(50):
        r = browser.post(reverse("login"), {"username": "target", "password": "wrong"})
        assert r.status_code in (200, 429)
    r = browser.post(reverse("login"), {"username": "target", "password": "the-right-password"})
    assert r.status_code == 429
    assert "Too many sign-in attempts; try again in 15 minutes." in r.content.decode()
    assert int(r["Retry-After"]) <= 900
    assert "_auth_user_id" not in browser.session
    # Case and compatibility forms of the name share its count.
    r = browser.post(reverse("login"), {"username": "ＴＡＲＧＥＴ", "password": "x"})
    assert r.status_code == 429


@pytest.mark.django_db
def test_the_limit_is_per_window_not_forever(make_user, settings):
    from api.throttling import FailureCounter

    make_user("patient", password="the-right-password")
    settings.STEPWISE_LOGIN_LIMIT_USER = 3
    browser = Client()
    for _ in range(3):
        browser.post(reverse("login"), {"username": "patient", "password": "wrong"})
    assert browser.post(reverse("login"), {"username": "patient",
                                           "password": "the-right-password"}).status_code == 429
    FailureCounter("login-user").clear("patient")  # what the window's end does
    r = browser.post(reverse("login"), {"username": "patient", "password": "the-right-password"})
    assert r.status_code == 302 and browser.session["_auth_user_id"]


@pytest.mark.django_db
def test_bad_api_tokens_are_throttled_per_address(make_user, settings):
    from api.services import issue_token

    _, key = issue_token(user=make_user("holder"), name="t")
    settings.STEPWISE_BAD_TOKEN_LIMIT = 30
    for i in range(30):
        r = APIClient().get("/api/projects/", HTTP_AUTHORIZATION=f"Bearer sw_guess{i}")
        assert r.status_code == 401
    guess = APIClient().get("/api/projects/", HTTP_AUTHORIZATION="Bearer sw_guess")
    assert guess.status_code == 429 and "Too many bad API tokens" in guess.json()["detail"]
    # Even a right guess from that address waits now; another address is not affected.
    assert APIClient().get("/api/projects/",
                           HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 429
    assert APIClient(REMOTE_ADDR="10.0.0.9").get(
        "/api/projects/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200


@pytest.mark.django_db
def test_look_alike_usernames_are_refused_everywhere(client, make_user):
    admin = make_user("adminb")
    project = make_project("lookalike")
    add_member(project, admin, role=Membership.Role.ADMIN)
    client.force_login(admin)
    url = reverse("manage:members", args=[project.slug])
    password = "a-long-enough-password"

    r = client.post(url, {"username": "\u0430dmin", "role": "annotator", "password": password})
    assert r.status_code == 400 and "may not mix scripts" in r.content.decode()
    r = client.post(url, {"username": "\u0455\u0441\u043e\u0440\u0435", "role": "annotator",
                          "password": password})
    assert r.status_code == 400 and "look Latin" in r.content.decode()
    # ADMINB is the account adminb (already a member), never a second account.
    r = client.post(url, {"username": "ADMINB", "role": "annotator", "password": password})
    assert r.status_code == 400 and "already a member" in r.content.decode()
    assert User.objects.filter(username__iexact="adminb").count() == 1

    with pytest.raises(ValidationError):
        User.objects.create_user("AdminB", password=password)
    with pytest.raises(ValidationError):
        User.objects.create_user("p\u0430ypal", password=password)
    assert User.objects.create_user("\uff4e\uff45\uff57").username == "new"  # NFKC
    legacy = make_user("legacy")
    User.objects.filter(pk=legacy.pk).update(username="l\u0435gacy")  # from before the rules
    legacy.refresh_from_db()
    legacy.set_password("another-long-password")
    legacy.save()  # its owner can still change their password
    legacy.username = "ADMINB"
    with pytest.raises(ValidationError):
        legacy.save()  # but a rename is checked

    staff = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(staff)
    for name in ("Adminb", "\u0430dmin"):
        r = client.post("/django-admin/auth/user/add/", {
            "username": name, "password1": password, "password2": password,
            "usable_password": "true"})
        assert r.status_code == 200, name  # the form again, with an error
    assert User.objects.filter(username__in=["Adminb", "\u0430dmin"]).count() == 0


@pytest.mark.django_db
def test_members_form_does_not_say_which_usernames_exist_elsewhere(client, make_user):
    admin = make_user("tenant-admin")
    project = make_project("tenant")
    add_member(project, admin, role=Membership.Role.ADMIN)
    add_member(make_project("elsewhere"), make_user("their-user", password="their-own-pw"))
    client.force_login(admin)
    url = reverse("manage:members", args=[project.slug])

    def answer(name, **extra):
        r = client.post(url, {"username": name, "role": "annotator", **extra}, follow=True)
        page = re.sub(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]*', "", r.content.decode())
        return r.status_code, page.replace(name, "NAME")

    assert answer("their-user") == answer("nobody-at-all")  # both: "give a password"
    assert answer("their-user")[0] == 400
    pw = {"password": "a-long-enough-password"}
    assert answer("their-user-2", **pw)[0] == 200
    exists, new = answer("their-user", **pw), answer("brand-new", **pw)
    assert exists[0] == new[0] == 200
    strip = lambda text: text.split('id="members"')[0]  # noqa: E731 - the message bar
    assert strip(exists[1]) == strip(new[1])
    their = User.objects.get(username="their-user")
    assert their.check_password("their-own-pw")  # an existing account keeps its password
    assert Membership.objects.filter(project=project, user=their).exists()
    # Members of the admin's own projects are added by name alone.
    colleague = add_member(make_project("mine-too"), make_user("colleague"))
    Membership.objects.create(project=Project.objects.get(slug="mine-too"), user=admin,
                              role=Membership.Role.ADMIN)
    assert answer(colleague.username)[0] == 200


def _waiting_for_lock() -> bool:
    with connections["default"].cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()")
        return cur.fetchone()[0] > 0


def _race(first, second):
    """``first`` runs in a transaction that stays open until ``second`` (another connection)
    waits on its row lock; then it commits. Returns what ``second`` returned or raised."""
    holding, release, result = threading.Event(), threading.Event(), {}

    def hold():
        try:
            with transaction.atomic():
                first()
                holding.set()
                release.wait(60)
        finally:
            connection.close()

    def race():
        try:
            result["value"] = second()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            result["error"] = exc
        finally:
            connection.close()

    a = threading.Thread(target=hold)
    a.start()
    assert holding.wait(60)
    b = threading.Thread(target=race)
    b.start()
    while not _waiting_for_lock() and b.is_alive():
        b.join(0.05)
    release.set()
    a.join(60)
    b.join(60)
    return result


@pytest.mark.django_db(transaction=True)
def test_the_same_new_member_added_twice_at_once_is_no_500():
    project = make_project("doubled")

    def add():
        return services.add_member(project, username="twice", role="annotator",
                                   password="a-long-enough-password")

    result = _race(add, add)
    assert isinstance(result.get("error"), ValidationError), result
    assert "already a member" in str(result["error"])
    assert User.objects.filter(username="twice").count() == 1
    assert Membership.objects.filter(project=project, user__username="twice").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_projects_of_one_name_created_at_once_is_no_500(make_user):
    user = make_user("maker")

    def create():
        return services.create_project(created_by=user, name="Same Name")

    result = _race(create, create)
    assert "error" not in result, result
    assert sorted(Project.objects.values_list("slug", flat=True)) == ["same-name", "same-name-2"]


def _engine_for_redis(url: str) -> str:
    """The session engine the settings choose when REDIS_URL is set (as in production)."""
    env = {**os.environ, "REDIS_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    out = subprocess.run([sys.executable, "-c", "from django.conf import settings; "
                          "print(settings.SESSION_ENGINE)"], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


@pytest.mark.django_db
def test_a_logout_while_redis_is_paused_stays_final_when_it_answers_again(
        redis_server, make_user):
    import redis
    from django.core.cache import caches

    make_user("leaving")
    cache = {"default": {"BACKEND": "stepwise.cache.FailSoftRedisCache",
                         "LOCATION": redis_server.url(1),
                         "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    with override_settings(SESSION_ENGINE=_engine_for_redis(redis_server.url(1)), CACHES=cache):
        browser = Client()
        assert browser.login(username="leaving", password="pw-for-tests")
        key = browser.cookies["sessionid"].value
        home = reverse("annotate:home")
        assert browser.get(home).status_code == 200
        stolen = Client()  # the same cookie elsewhere (another tab, a copied cookie)
        stolen.cookies["sessionid"] = key
        assert stolen.get(home).status_code == 200

        os.kill(redis_server.proc.pid, signal.SIGSTOP)
        try:
            assert browser.post(reverse("logout")).status_code == 302
        finally:
            os.kill(redis_server.proc.pid, signal.SIGCONT)
        raw = redis.Redis(port=redis_server.port, db=1)
        assert any(key in k.decode() for k in raw.keys("*")), "the cached copy survived"

        caches["default"]._down_until = 0.0  # as a process that never saw the pause
        response = stolen.get(home)
        assert response.status_code == 302 and "login" in response["Location"]
        assert stolen.get(home).status_code == 302


@pytest.mark.django_db
def test_sign_in_limits_fail_open_while_the_cache_is_down(redis_server, make_user, settings):
    make_user("outage", password="the-right-password")
    settings.STEPWISE_LOGIN_LIMIT_USER = 2
    cache = {"default": {"BACKEND": "stepwise.cache.FailSoftRedisCache",
                         "LOCATION": redis_server.url(2),
                         "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    with override_settings(CACHES=cache):
        redis_server.stop()
        browser = Client()
        for _ in range(3):
            assert browser.post(reverse("login"), {"username": "outage",
                                                   "password": "wrong"}).status_code == 200
        r = browser.post(reverse("login"), {"username": "outage",
                                            "password": "the-right-password"})
        assert r.status_code == 302
