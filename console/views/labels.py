"""The label-sources report: each label source against a reference, as a page and CSV."""

import csv

from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render

from quality import label_report
from quality.labels import UnknownSource

from .certify import certify_context
from .permissions import STAFF, project_role_required


def _report(request, project) -> dict:
    consensus = request.GET.getlist("consensus") or None
    return label_report.build_report(project, reference=request.GET.get("reference") or None,
                                     consensus=consensus)


@project_role_required(*STAFF)
def label_sources(request, project):
    try:
        return render_label_sources(request, project)
    except UnknownSource as exc:
        return HttpResponseBadRequest(str(exc))


def render_label_sources(request, project, *, cert_error: str = "", status: int = 200):
    report = _report(request, project)
    return render(request, "manage/label_sources.html", {
        "project": project, "tab": "labels", "report": report,
        "positions": label_report.in_order(report, "positions"),
        "first_error": label_report.in_order(report, "first_error"),
        "matrix": label_report.kappa_matrix(report), "tables": label_report.TABLES,
        "query": request.GET.urlencode(), "cert_error": cert_error,
        **certify_context(project, request.POST if cert_error else None)}, status=status)


@project_role_required(*STAFF)
def label_sources_csv(request, project, table: str):
    if table not in label_report.TABLES:
        raise Http404(f"No table '{table}'.")
    try:
        rows = label_report.table_rows(_report(request, project), table)
    except UnknownSource as exc:
        return HttpResponseBadRequest(str(exc))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-labels-{table}.csv"'
    writer = csv.writer(response)
    if rows:
        writer.writerow(rows[0].keys())
        writer.writerows([row.values() for row in rows])
    return response
