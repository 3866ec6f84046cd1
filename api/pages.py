"""A browser page for your API tokens: list, create (the key is shown once), revoke."""

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from .models import APIToken
from .services import issue_token, revoke_token

MAX_DAYS = 3650


@login_required
def tokens_page(request):
    context = {"new_key": None, "error": None}
    if request.method == "POST":
        if "revoke" in request.POST:
            try:
                pk = int(request.POST["revoke"])
            except ValueError:
                return HttpResponseBadRequest("Bad token id.")
            revoke_token(get_object_or_404(APIToken, pk=pk, user=request.user))
        else:
            name = request.POST.get("name", "").strip()[:100]
            scope = request.POST.get("scope", "read")
            days = request.POST.get("days", "").strip()
            if not name:
                context["error"] = "Give the token a name."
            elif scope not in APIToken.Scope.values:
                context["error"] = "Scope must be read or write."
            elif days and (not days.isdigit() or not 1 <= int(days) <= MAX_DAYS):
                context["error"] = f"Expiry must be 1 to {MAX_DAYS} days, or empty for none."
            else:
                expires = timezone.now() + timedelta(days=int(days)) if days else None
                try:
                    token, key = issue_token(user=request.user, name=name, scope=scope,
                                             expires_at=expires)
                    context["new_key"], context["new_token"] = key, token
                except ValidationError as exc:
                    # A detail value is one message or a list of them.
                    context["error"] = " ".join(
                        str(m) for v in exc.detail.values() for m in ([v] if isinstance(v, str) else v))
    context["tokens"] = APIToken.objects.filter(user=request.user)
    context["now"] = timezone.now()
    status = 400 if context["error"] else 200
    return render(request, "api/tokens.html", context, status=status)
