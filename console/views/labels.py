"""The label-sources report: each label source against a reference, as a page and CSV."""

import csv

from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from quality import label_report, report_runs
from quality.labels import UnknownSource

from .certify import certify_context
from .permissions import STAFF, project_role_required


def _report(request, project) -> tuple[dict | None, report_runs.Stored | None]:
    """The report for the query's reference and rule, and for a big project what its Runs
    stored (the report is then the newest stored one, None before any finished)."""
    params = report_runs.report_params(request.GET.get("reference") or None,
                                       request.GET.getlist("consensus") or None,
                                       request.GET.get("anchoring") or None)
    if report_runs.is_precomputed(project):
        stored = report_runs.stored_report(project, params)
        return stored.report, stored
    return label_report.build_report(project, **params), None


@project_role_required(*STAFF)
def label_sources(request, project):
    try:
        return render_label_sources(request, project)
    except UnknownSource as exc:
        return HttpResponseBadRequest(str(exc))


def render_label_sources(request, project, *, cert_error: str = "", status: int = 200):
    report, stored = _report(request, project)
    shown = report or {"sources": [], "positions": [], "first_error": [], "pairs": []}
    return render(request, "manage/label_sources.html", {
        "project": project, "tab": "labels", "report": report, "stored": stored,
        "positions": label_report.in_order(shown, "positions"),
        "first_error": label_report.in_order(shown, "first_error"),
        "matrix": label_report.kappa_matrix(shown), "tables": label_report.TABLES,
        "query": request.GET.urlencode(), "cert_error": cert_error,
        "anchoring_param": request.GET.get("anchoring", ""),
        **certify_context(project, request.POST if cert_error else None)}, status=status)


@project_role_required(*STAFF)
def label_sources_csv(request, project, table: str):
    if table not in label_report.TABLES:
        raise Http404(f"No table '{table}'.")
    try:
        report, _ = _report(request, project)
    except UnknownSource as exc:
        return HttpResponseBadRequest(str(exc))
    if report is None:
        return HttpResponse(NOT_COMPUTED, status=409, content_type="text/plain; charset=utf-8")
    rows = label_report.table_rows(report, table)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-labels-{table}.csv"'
    writer = csv.writer(response)
    if rows:
        writer.writerow(rows[0].keys())
        writer.writerows([row.values() for row in rows])
    return response


NOT_COMPUTED = ("This project's label-sources report is computed by a Run, and none has "
                "finished for this reference and consensus rule yet: press Recompute on the "
                "Label sources page, then download it.")


@project_role_required(*STAFF)
@require_POST
def label_sources_recompute(request, project):
    """Start a ``label_report`` Run for the query's reference and rule; back to the page."""
    try:
        params = report_runs.report_params(request.GET.get("reference") or None,
                                           request.GET.getlist("consensus") or None,
                                           request.GET.get("anchoring") or None)
    except UnknownSource as exc:
        return HttpResponseBadRequest(str(exc))
    report_runs.recompute(project, request.user, params)
    query = request.GET.urlencode()
    return redirect(reverse("manage:label_sources", args=[project.slug])
                    + (f"?{query}" if query else ""))
