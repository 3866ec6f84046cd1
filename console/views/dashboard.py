"""The project dashboard (cheap numbers inline, heavy sections loaded by htmx) and a CSV
download of each of its tables."""

import csv

from django.http import Http404, HttpResponse
from django.shortcuts import render

from quality import dashboard as tables

from .permissions import STAFF, project_role_required

#: Sections loaded after the page, each from its own request (they aggregate all ratings).
PARTS = {"throughput": ("throughput", "daily"), "labels": ("labels",),
         "time_per_step": ("time_per_step",), "gold": ("gold",), "agreement": ("agreement",)}


@project_role_required(*STAFF)
def dashboard(request, project):
    return render(request, "manage/dashboard.html", {
        "project": project, "tab": "dashboard", "parts": PARTS,
        "progress": tables.progress(project)[0], "queue": tables.queue_health(project)[0]})


@project_role_required(*STAFF)
def part(request, project, name: str):
    if name not in PARTS:
        raise Http404(f"No dashboard section '{name}'.")
    data = {table: tables.cached_table(project, table) for table in PARTS[name]}
    return render(request, "manage/_dash_part.html", {"project": project, "name": name, "t": data})


@project_role_required(*STAFF)
def table_csv(request, project, table: str):
    if table not in tables.TABLES:
        raise Http404(f"No table '{table}'.")
    rows = tables.compute_table(project, table)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-{table}.csv"'
    writer = csv.writer(response)
    if rows:
        writer.writerow(rows[0].keys())
        writer.writerows([row.values() for row in rows])
    return response
