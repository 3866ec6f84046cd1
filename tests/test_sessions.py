"""Sessions cached in Redis (production, REDIS_URL set): a login is served from the cache,
and a logout ends the session for every process, not only the one that handled it."""

import pytest
from django.test import Client, override_settings
from django.urls import reverse

REDIS_CACHE = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                           "LOCATION": "redis://127.0.0.1:6379/14"}}


@pytest.fixture
def redis_sessions():
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.cached_db",
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
