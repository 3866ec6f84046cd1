"""Sessions cached in Redis (production, REDIS_URL set): a login is served from the cache,
a logout ends the session for every process, not only the one that handled it, and a Redis
outage costs speed, not requests."""

import pytest
from django.test import Client, override_settings
from django.urls import reverse

REDIS_CACHE = {"default": {"BACKEND": "stepwise.cache.FailSoftRedisCache",
                           "LOCATION": "redis://127.0.0.1:6379/12"}}


@pytest.fixture
def redis_sessions():
    with override_settings(SESSION_ENGINE="stepwise.sessions",
                           CACHES=REDIS_CACHE):
        from django.core.cache import cache

        cache.clear()
        yield cache
        cache.clear()


@pytest.mark.django_db
def test_cached_session_survives_a_cache_flush_and_ends_at_logout(redis_sessions, make_user):
    make_user("sess")
    browser = Client()
    assert browser.login(username="sess", password="pw-for-tests")
    home = reverse("annotate:home")
    assert browser.get(home).status_code == 200
    key = browser.cookies["sessionid"].value
    assert redis_sessions.get(f"django.contrib.sessions.cached_db{key}") is not None

    redis_sessions.clear()  # written through: the database still has it
    assert browser.get(home).status_code == 200

    other = Client()  # the same cookie, as another server process would see it
    other.cookies["sessionid"] = key
    assert other.get(home).status_code == 200
    browser.post(reverse("logout"))
    response = other.get(home)
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.django_db
def test_a_logged_in_annotator_keeps_labeling_while_redis_is_down(redis_server, make_user):
    from annotate.models import StepRating
    from tests.labeling_factories import add_member, make_project, make_solution

    project = make_project("outage")
    solution = make_solution(project, ["One step.", "Another step."])
    add_member(project, make_user("steady"))
    cache = {"default": {**REDIS_CACHE["default"], "LOCATION": redis_server.url(1),
                         "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    with override_settings(SESSION_ENGINE="stepwise.sessions",
                           CACHES=cache):
        browser = Client()
        assert browser.login(username="steady", password="pw-for-tests")
        started = browser.post(reverse("annotate:start", args=[project.slug]))
        assert started.status_code == 302
        task_url = started["Location"]
        assert browser.get(task_url).status_code == 200

        redis_server.stop()
        assert browser.get(reverse("annotate:home")).status_code == 200
        assert browser.get(task_url).status_code == 200
        first = solution.last_step.parent_id
        saved = browser.post(f"{task_url}rate/", {"node": first, "rating": "1"},
                             HTTP_HX_REQUEST="true")
        assert saved.status_code == 200
        assert StepRating.objects.get(node_id=first).rating == 1
        assert browser.get("/api/projects/").status_code == 200  # throttles degrade, too

        redis_server.start()  # back: the cache fills again, the session is still valid
        assert browser.get(task_url).status_code == 200
