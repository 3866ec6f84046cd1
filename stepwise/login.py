"""Sign-in with failure limits per username and per address (docs/security.md).

After ``STEPWISE_LOGIN_LIMIT_USER`` failed passwords for one username, or
``STEPWISE_LOGIN_LIMIT_IP`` from one address, within ``STEPWISE_AUTH_WINDOW_SECONDS``,
sign-in is refused with a 429 until the window ends, before any password is checked, so
guessing stops even when a guess would be right. A success clears the username's count.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.forms.utils import ErrorDict

from annotate.services.accounts import normalize
from api.throttling import FailureCounter, client_ip, minutes

BY_USER = FailureCounter("login-user")
BY_IP = FailureCounter("login-ip")


def _user_key(request) -> str:
    return normalize(request.POST.get("username", "")).casefold()


class LoginView(auth_views.LoginView):

    def post(self, request, *args, **kwargs):
        wait = max(BY_USER.retry_after(_user_key(request), settings.STEPWISE_LOGIN_LIMIT_USER),
                   BY_IP.retry_after(client_ip(request), settings.STEPWISE_LOGIN_LIMIT_IP))
        if wait:
            form = self.form_class(request)  # unbound: no password is checked
            form._errors = ErrorDict()
            message = f"Too many sign-in attempts; try again in {minutes(wait)}."
            response = self.render_to_response(self.get_context_data(form=form,
                                                                     throttled=message))
            response.status_code = 429
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        if form.data.get("username") and form.data.get("password"):
            window = settings.STEPWISE_AUTH_WINDOW_SECONDS
            BY_USER.fail(_user_key(self.request), window)
            BY_IP.fail(client_ip(self.request), window)
        return super().form_invalid(form)

    def form_valid(self, form):
        BY_USER.clear(_user_key(self.request))
        return super().form_valid(form)
