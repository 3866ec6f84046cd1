"""The project's generator settings, and "test connection" (htmx)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from console.forms import GeneratorForm
from generation.config import GeneratorSettings
from generation.connection import check_connection
from generation.services import update_generator
from outbound.redact import redact

from .permissions import ADMIN, project_role_required


@project_role_required(ADMIN)
def generator(request, project):
    form = GeneratorForm.for_project(project, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            update_generator(project, form.values(project.generator))
        except ValueError as exc:
            form.add_error(None, redact(str(exc)))
        else:
            messages.success(request, "Generator settings saved.")
            return redirect("manage:generator", slug=project.slug)
    return render(request, "manage/generator.html", {
        "form": form, "project": project, "tab": "generator"},
        status=400 if form.errors else 200)


@project_role_required(ADMIN)
@require_POST
def test_connection(request, project):
    """One short request with the settings as the form has them (saved or not)."""
    form = GeneratorForm.for_project(project, request.POST)
    check, error = None, None
    if not form.is_valid():
        error = redact("; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items()))
    else:
        try:
            settings = GeneratorSettings.from_dict(form.values(project.generator))
        except ValueError as exc:
            error = redact(str(exc))
        else:
            check = check_connection(settings, project.pk)
    return render(request, "manage/_connection.html", {"check": check, "error": error},
                  status=400 if error else 200)
