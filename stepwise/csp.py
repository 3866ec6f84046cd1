"""The Content-Security-Policy header on every response.

Scripts run only from the app's own origin: htmx, KaTeX and the app's scripts are served
locally (STATICFILES_DIRS), the templates hold no inline script or event handler, and the
API docs use drf-spectacular's split view, which serves its script as a file. Inline
styles stay allowed: KaTeX sizes its glyphs with ``style`` attributes.
"""

from __future__ import annotations

from django.conf import settings

DEFAULT_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
