"""Search pages: a PRM's scaling chart (accuracy against budget), its CSV, starting a search."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate.models import Membership
from annotate.selectors.projects import role_in
from training.models import PrmModel
from training.selectors import administered_model, models_for

from .selectors import POINT_FIELDS, recent_search_runs, scaling_chart, scaling_points, search_runs
from .services import SearchError, start_search


def _visible_model(request, model_id: int) -> PrmModel:
    model = models_for(request.user).filter(pk=model_id).first()
    if model is None:
        raise Http404("No such model.")
    return model


def _run_param(request, model) -> int | None:
    raw = request.GET.get("run", "")
    if not raw:
        return None
    if not raw.isdigit() or int(raw) not in search_runs(model):
        raise Http404("No such search run for this model.")
    return int(raw)


@login_required
def scaling(request, model_id: int):
    model = _visible_model(request, model_id)
    data = scaling_points(model, _run_param(request, model))
    runs = recent_search_runs(model)
    return render(request, "search/scaling.html", {
        "model": model, "data": data, "chart": scaling_chart(data["points"]), "runs": runs,
        "result_runs": search_runs(model),
        "can_admin": role_in(model.project, request.user) == Membership.Role.ADMIN,
        "watching": any(not r.is_finished for r in runs),
    })


@login_required
def runs_part(request, model_id: int):
    """htmx: the run list, polled while a search runs. When a Run the page was watching has
    finished, the whole page reloads so its chart and table show the new results."""
    model = _visible_model(request, model_id)
    runs = recent_search_runs(model)
    watching = any(not r.is_finished for r in runs)
    if request.GET.get("watching") == "1" and not watching:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "search/_runs.html", {"model": model, "runs": runs,
                                                 "watching": watching})


@login_required
def scaling_csv(request, model_id: int):
    model = _visible_model(request, model_id)
    data = scaling_points(model, _run_param(request, model))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="scaling-prm-{model.pk}-run-{data["run"]}.csv"'
    writer = csv.writer(response)
    writer.writerow(["run", *POINT_FIELDS])
    for p in data["points"]:
        writer.writerow([data["run"], *(p[f] for f in POINT_FIELDS)])
    return response


def _int_field(post, name: str, default: int | None) -> int | None:
    raw = post.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise SearchError(f"'{name}' must be a whole number.")
    return int(raw)


@login_required
@require_POST
def start(request, model_id: int):
    model = administered_model(request.user, model_id)
    if model is None:
        raise Http404("No such model.")
    try:
        run = start_search(prm_model=model, max_budget=_int_field(request.POST, "max_budget", 8),
                           aggregate=request.POST.get("aggregate", "min"),
                           limit=_int_field(request.POST, "limit", None), user=request.user)
    except SearchError as exc:
        messages.error(request, str(exc))
        return redirect("search:scaling", model_id=model.pk)
    messages.success(request, f"Search started (run {run.pk}).")
    return redirect("search:scaling", model_id=model.pk)
