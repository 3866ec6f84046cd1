"""Sessions in the database, with Redis as a cache that cannot outlive a logout.

Django's ``cached_db`` trusts a cached session: when a logout's cache delete fails (Redis
paused or unreachable; stepwise/cache.py swallows the error), the cached copy comes back
to life when Redis answers again, for up to the session's age. Here the database row is
the truth: a cache hit counts only while the row exists and has not expired (one
primary-key lookup that reads no session data), and a stale copy is dropped. Logout,
``flush`` at sign-in and password change (whose session hash Django checks against the
user row on every request) are therefore final whatever the cache's state.
"""

from __future__ import annotations

from django.contrib.sessions.backends import cached_db
from django.utils import timezone


class SessionStore(cached_db.SessionStore):

    def _alive_in_db(self) -> bool:
        return self.model.objects.filter(session_key=self.session_key,
                                         expire_date__gt=timezone.now()).exists()

    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except Exception:  # an invalid cache key: as Django, fall back to the database
            data = None
        if data is not None:
            if self._alive_in_db():
                return data
            self._cache.delete(self.cache_key)  # ended while the cache could not hear it
        row = self._get_session_from_db()
        if row is None:
            return {}
        data = self.decode(row.session_data)
        self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=row.expire_date))
        return data

    async def aload(self):
        from asgiref.sync import sync_to_async

        return await sync_to_async(self.load)()
