"""Reads of the search app: the scaling curve of a PRM's search (accuracy against budget)."""

from __future__ import annotations

import math

from django.db.models import Avg, Count, Max, Q

from .models import SearchResult
from .strategies import STRATEGIES

COLORS = {"greedy": "#6b7280", "majority": "#111827", "best_of_n_min": "#2f5bd3",
          "best_of_n_product": "#7c3aed", "best_of_n_last": "#0891b2",
          "weighted_majority": "#b45309", "beam": "#b3261e"}
LABELS = {"greedy": "Greedy", "majority": "Majority vote", "best_of_n_min": "Best-of-N (min)",
          "best_of_n_product": "Best-of-N (product)", "best_of_n_last": "Best-of-N (last)",
          "weighted_majority": "PRM-weighted majority", "beam": "Beam search"}
POINT_FIELDS = ("strategy", "budget", "problems", "correct", "accuracy", "generated_tokens",
                "prm_tokens")


def latest_run_id(prm_model) -> int | None:
    return SearchResult.objects.filter(prm_model=prm_model).aggregate(r=Max("run_id"))["r"]


def recent_search_runs(prm_model, limit: int = 10):
    """The model's latest search Runs, newest first, for the page's run list."""
    from workers.models import Run

    return list(Run.objects.filter(kind="search", project=prm_model.project,
                                   params__prm_model_id=prm_model.pk).order_by("-pk")[:limit])


def search_runs(prm_model) -> list[int]:
    return list(SearchResult.objects.filter(prm_model=prm_model).order_by("-run_id")
                .values_list("run_id", flat=True).distinct())


def scaling_points(prm_model, run_id: int | None = None) -> dict:
    """Accuracy and mean compute per problem for each strategy and budget of one search Run
    (the latest by default). Tokens are means per problem."""
    run_id = run_id if run_id is not None else latest_run_id(prm_model)
    rows = (SearchResult.objects.filter(prm_model=prm_model, run_id=run_id)
            .values("strategy", "budget")
            .annotate(problems=Count("id"), correct=Count("id", filter=Q(is_correct=True)),
                      gen=Avg("generated_tokens"), prm=Avg("prm_tokens")))
    order = {name: i for i, name in enumerate(STRATEGIES)}
    points = sorted(({"strategy": r["strategy"], "budget": r["budget"], "problems": r["problems"],
                      "correct": r["correct"], "accuracy": round(r["correct"] / r["problems"], 4),
                      "generated_tokens": round(r["gen"], 1), "prm_tokens": round(r["prm"], 1)}
                     for r in rows), key=lambda p: (order.get(p["strategy"], 99), p["budget"]))
    return {"prm_model": prm_model.pk, "run": run_id, "points": points}


def scaling_chart(points: list[dict], width: int = 640, height: int = 320, pad: int = 44) -> dict:
    """An inline SVG's geometry: accuracy (0-1) against generated tokens per problem on a
    log2 x axis, one line per strategy."""
    if not points:
        return {}
    xs = [max(p["generated_tokens"], 1.0) for p in points]
    lo, hi = math.log2(min(xs)), math.log2(max(xs))
    span = (hi - lo) or 1.0
    inner_w, inner_h = width - 2 * pad, height - 2 * pad

    def x_of(tokens: float) -> float:
        return pad + inner_w * (math.log2(max(tokens, 1.0)) - lo) / span

    def y_of(acc: float) -> float:
        return height - pad - inner_h * acc

    lines = []
    for name in [s for s in STRATEGIES if any(p["strategy"] == s for p in points)]:
        mine = [p for p in points if p["strategy"] == name]
        dots = [{**p, "x": round(x_of(p["generated_tokens"]), 1), "y": round(y_of(p["accuracy"]), 1)}
                for p in mine]
        lines.append({"strategy": name, "label": LABELS.get(name, name),
                      "color": COLORS.get(name, "#000"), "dots": dots,
                      "points": " ".join(f"{d['x']},{d['y']}" for d in dots)})
    ticks_x = []
    for k in range(math.floor(lo), math.ceil(hi) + 1):
        if lo - 1e-9 <= k <= hi + 1e-9:
            ticks_x.append({"x": round(x_of(2 ** k), 1), "label": f"{2 ** k:g}"})
    ticks_y = [{"y": round(y_of(v / 4), 1), "label": f"{v * 25}%"} for v in range(5)]
    return {"width": width, "height": height, "pad": pad, "lines": lines, "ticks_x": ticks_x,
            "ticks_y": ticks_y, "bottom": height - pad, "right": width - pad}
