"""Rate limits on the default cache (Redis in production when REDIS_URL is set), and
counters of failed sign-ins and bad API tokens.

Rates are read from settings on every request (not at import, as DRF's classes do),
so they can be tuned per deployment and in tests.
"""

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class _SettingsRate:
    def get_rate(self):
        return settings.STEPWISE_API_RATES.get(self.scope)


class APIUserThrottle(_SettingsRate, UserRateThrottle):
    scope = "user"


class APIAnonThrottle(_SettingsRate, AnonRateThrottle):
    scope = "anon"


class FailureCounter:
    """Failed attempts per key (a username, an IP) in a fixed window, in the default cache.

    A key with ``limit`` failures is refused until its window ends; nothing is refused
    forever, and the right password works again once the window has passed. While the
    cache is unreachable the counter counts nothing and refuses nothing (fail open, see
    docs/security.md): an outage must not lock every user out, and sessions and tokens do
    not depend on it.
    """

    def __init__(self, name: str):
        self.name = name

    def _keys(self, key: str) -> tuple[str, str]:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]  # any text makes a valid key
        return f"fail:{self.name}:{digest}", f"fail:{self.name}:{digest}:until"

    def retry_after(self, key: str, limit: int) -> int:
        """Seconds until ``key`` may try again; 0 when it may now."""
        count_key, until_key = self._keys(key)
        values = cache.get_many([count_key, until_key])
        if values.get(count_key, 0) < limit:
            return 0
        return max(1, math.ceil(values.get(until_key, 0) - time.time()))

    def fail(self, key: str, window: int) -> None:
        count_key, until_key = self._keys(key)
        if cache.add(count_key, 0, window):
            cache.set(until_key, time.time() + window, window)
        try:
            cache.incr(count_key)
        except ValueError:  # expired between add and incr, or the cache is down
            pass

    def clear(self, key: str) -> None:
        cache.delete_many(list(self._keys(key)))


def minutes(seconds: int) -> str:
    n = max(1, math.ceil(seconds / 60))
    return f"{n} minute{'s' if n != 1 else ''}"


def client_ip(request) -> str:
    """The peer address. Behind a proxy, the proxy must set REMOTE_ADDR (gunicorn's
    forwarded-allow-ips), so a client cannot pick its own key with a header."""
    return request.META.get("REMOTE_ADDR") or "unknown"


BAD_TOKENS = FailureCounter("token-ip")


def bad_token_retry_after(request) -> int:
    return BAD_TOKENS.retry_after(client_ip(request), settings.STEPWISE_BAD_TOKEN_LIMIT)


def bad_token(request) -> None:
    BAD_TOKENS.fail(client_ip(request), settings.STEPWISE_AUTH_WINDOW_SECONDS)
