"""Rate limits on the default cache (Redis in production when REDIS_URL is set).

Rates are read from settings on every request (not at import, as DRF's classes do),
so they can be tuned per deployment and in tests.
"""

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class _SettingsRate:
    def get_rate(self):
        return settings.STEPWISE_API_RATES.get(self.scope)


class APIUserThrottle(_SettingsRate, UserRateThrottle):
    scope = "user"


class APIAnonThrottle(_SettingsRate, AnonRateThrottle):
    scope = "anon"
