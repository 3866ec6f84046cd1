"""The Redis cache as a cache: when Redis is unreachable, calls miss instead of raising.

Sessions (``cached_db``: the database is the truth), API throttles and the queue's
low-water mark all read through the cache, so an outage must cost speed, not requests.
After a failure the backend skips Redis for ``RETRY_AFTER`` seconds, so a dead server costs
one refused connection per process every few seconds rather than one per call.
"""

from __future__ import annotations

import functools
import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

RETRY_AFTER = 2.0
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def _fail_soft(on_failure):
    """Run the Redis call; when Redis is (or was just) unreachable, return ``on_failure``."""

    def decorate(method):
        @functools.wraps(method)
        def call(self, *args, **kwargs):
            if time.monotonic() < self._down_until:
                return on_failure(*args, **kwargs)
            try:
                return method(self, *args, **kwargs)
            except UNREACHABLE as exc:
                if not self._down_until:
                    logger.warning("cache: Redis unreachable (%s); serving without it", exc)
                self._down_until = time.monotonic() + RETRY_AFTER
                return on_failure(*args, **kwargs)

        return call

    return decorate


def _missing_counter(key, *args, **kwargs):
    raise ValueError(f"Key '{key}' not found (the cache is unreachable).")


class FailSoftRedisCache(RedisCache):
    _down_until = 0.0

    get = _fail_soft(lambda key, default=None, *a, **k: default)(RedisCache.get)
    get_many = _fail_soft(lambda *a, **k: {})(RedisCache.get_many)
    has_key = _fail_soft(lambda *a, **k: False)(RedisCache.has_key)
    add = _fail_soft(lambda *a, **k: False)(RedisCache.add)
    set = _fail_soft(lambda *a, **k: None)(RedisCache.set)
    set_many = _fail_soft(lambda data, *a, **k: list(data))(RedisCache.set_many)
    touch = _fail_soft(lambda *a, **k: False)(RedisCache.touch)
    delete = _fail_soft(lambda *a, **k: False)(RedisCache.delete)
    delete_many = _fail_soft(lambda *a, **k: None)(RedisCache.delete_many)
    incr = _fail_soft(_missing_counter)(RedisCache.incr)
    clear = _fail_soft(lambda *a, **k: False)(RedisCache.clear)
