"""Browser import: upload a file, start an import run, poll its progress and show the report."""

import uuid
from pathlib import Path

from django.conf import settings
from django.shortcuts import get_object_or_404, redirect, render

from console.forms import ImportForm
from workers.models import Run

from .permissions import ADMIN, project_role_required

DEFAULT_MAX_UPLOAD = 512 * 1024 * 1024


def max_upload_bytes() -> int:
    return int(getattr(settings, "IMPORT_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD))


def _store(project, upload) -> Path:
    """Stream the upload to DATA_DIR/uploads/<project>/ under a collision-free name."""
    folder = Path(settings.DATA_DIR) / "uploads" / project.slug
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(upload.name).name)
    path = folder / f"{uuid.uuid4().hex[:12]}-{safe[-120:]}"
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path


@project_role_required(ADMIN)
def upload(request, project):
    form = ImportForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is not None and upload.size > max_upload_bytes():
            form.is_valid()
            form.add_error("file", f"The file is {upload.size:,} bytes; the limit is "
                                   f"{max_upload_bytes():,} bytes.")
            status = 413
        elif form.is_valid():
            from annotate.services.imports import start_import_run

            path = _store(project, form.cleaned_data["file"])
            try:
                run = start_import_run(project=project, path=str(path),
                                       fmt=form.cleaned_data["fmt"], options=form.options(),
                                       user=request.user)
            except (ValueError, FileNotFoundError) as exc:
                path.unlink(missing_ok=True)
                form.add_error(None, str(exc).replace(str(path), path.name))  # no server path
            else:
                return redirect("manage:run", slug=project.slug, run_id=run.pk)
        if form.errors and status == 200:
            status = 400
    runs = list(Run.objects.filter(project=project, kind="import").order_by("-created")[:20])
    for run in runs:
        run.source_label = source_label(run.params)
    return render(request, "manage/import.html", {
        "project": project, "tab": "import", "form": form, "runs": runs,
        "max_mb": max_upload_bytes() // (1024 * 1024)}, status=status)


def source_label(params) -> str:
    """The file's name, never the server path it was stored under; '' for a Run without one
    (params from the API or an older version may lack ``path`` or hold anything)."""
    params = params if isinstance(params, dict) else {}
    name = params.get("source_name") or params.get("path")
    return Path(name).name if isinstance(name, str) else ""


@project_role_required(ADMIN)
def run_status(request, project, run_id: int):
    """The run page; htmx polls the same URL for the progress partial every second."""
    run = get_object_or_404(Run, pk=run_id, project=project)
    template = "manage/_run_status.html" if request.htmx else "manage/run.html"
    return render(request, template, {"project": project, "tab": "import", "run": run,
                                      "report": run.result or {}})


