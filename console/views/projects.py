"""Project list, create, edit (with Markdown preview) and archive."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import escape
from django.views.decorators.http import require_POST

from annotate.models import Project
from annotate.services import projects as services
from console.forms import ProjectForm
from console.templatetags.manage_tags import markdown

from .permissions import ADMIN, STAFF, can_create_projects, managed_roles, project_role_required


@login_required
def index(request):
    """Projects the user administers or reviews (user-scoped, so no project check here)."""
    roles = managed_roles(request.user)
    projects = list(Project.objects.filter(pk__in=roles).order_by("archived_at", "name"))
    for project in projects:
        project.my_role = roles[project.pk]
    return render(request, "manage/index.html", {
        "projects": projects, "can_create": can_create_projects(request.user)})


def _save(request, form, project=None):
    data = dict(form.cleaned_data)
    try:
        if project is None:
            return services.create_project(created_by=request.user, **data)
        return services.update_project(project, **data)
    except ValidationError as exc:
        for field, errors in exc.update_error_dict({}).items():
            form.add_error(field if field in form.fields else None, errors)
        return None


@login_required
def create(request):
    if not can_create_projects(request.user):
        raise PermissionDenied("Only staff and project admins can create projects.")
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = _save(request, form)
        if project is not None:
            messages.success(request, f"Project '{project.name}' created.")
            return redirect("manage:settings", slug=project.slug)
    return render(request, "manage/project_new.html", {"form": form, "creating": True},
                  status=400 if form.errors else 200)


@project_role_required(ADMIN)
def settings(request, project):
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        # The ModelForm already set fields on the instance; the service validates and saves.
        if _save(request, form, project) is not None:
            messages.success(request, "Settings saved.")
            return redirect("manage:settings", slug=project.slug)
    return render(request, "manage/project_form.html", {
        "form": form, "project": project, "tab": "settings"},
        status=400 if form.errors else 200)


@project_role_required(*STAFF)
@require_POST
def preview(request, project):
    """htmx: the instructions as annotators will see them."""
    text = request.POST.get("instructions", "")
    return HttpResponse(markdown(text) if text.strip() else f"<p class='muted'>{escape('(empty)')}</p>")


@project_role_required(ADMIN)
@require_POST
def archive(request, project):
    if request.POST.get("undo"):
        services.unarchive_project(project)
        messages.success(request, "Project restored.")
    else:
        services.archive_project(project)
        messages.success(request, "Project archived; nothing was deleted.")
    return redirect("manage:settings", slug=project.slug)
