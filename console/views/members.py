"""Members and roles of a project."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.models import Membership
from annotate.services import projects as services
from console.forms import MemberAddForm, RoleForm

from .permissions import ADMIN, project_role_required


def _page(request, project, form, status=200):
    members = Membership.objects.filter(project=project).select_related("user").order_by(
        "role", "user__username")
    return render(request, "manage/members.html", {
        "project": project, "tab": "members", "form": form, "members": members,
        "roles": Membership.Role.choices}, status=status)


@project_role_required(ADMIN)
def members(request, project):
    form = MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            m = services.add_member(project, added_by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # The same words for a new and an existing account: no hint which it was.
            kept = " An account that already existed keeps its own password." \
                if form.cleaned_data.get("password") else ""
            messages.success(request, f"Added {m.user.username} as {m.role}.{kept}")
            return redirect("manage:members", slug=project.slug)
    return _page(request, project, form, status=400 if form.errors else 200)


@project_role_required(ADMIN)
@require_POST
def set_role(request, project, pk: int):
    membership = get_object_or_404(Membership, pk=pk, project=project)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick a valid role.")
        return _page(request, project, MemberAddForm(), status=400)
    try:
        services.set_role(membership, form.cleaned_data["role"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _page(request, project, MemberAddForm(), status=400)
    messages.success(request, f"{membership.user.username} is now {form.cleaned_data['role']}.")
    return redirect("manage:members", slug=project.slug)


@project_role_required(ADMIN)
@require_POST
def remove(request, project, pk: int):
    membership = get_object_or_404(Membership, pk=pk, project=project)
    try:
        services.remove_member(membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _page(request, project, MemberAddForm(), status=400)
    messages.success(request, f"Removed {membership.user.username}; their labels stay.")
    return redirect("manage:members", slug=project.slug)
