"""Reward service for RL trainers: per-step PRM scores and an aggregate, batched.

``POST /api/prm/<id>/score`` takes items of a problem with steps (or raw text and a
delimiter); ``POST /api/prm/<id>/openrlhf`` speaks OpenRLHF's remote reward
protocol (``{"query": [...], "prompts": [...]}`` in, ``{"rewards": [...]}`` out).
Any member of the model's project may call it, with a session or an API token.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.selectors.projects import visible_projects
from api import reward_schema as schema
from training.models import PrmModel
from training.scoring import AGGREGATES, aggregate, cached_scorer

MAX_ITEMS = 256
MAX_STEPS = 200
DEFAULT_DELIMITER = "\n\n"


class _PrmView(APIView):

    def ready_model(self, request, model_id: int) -> PrmModel:
        model = PrmModel.objects.filter(
            pk=model_id, project__in=visible_projects(request.user)).first()
        if model is None:
            raise NotFound("No such PRM in your projects.")
        if model.status != PrmModel.Status.READY:
            raise ValidationError({"model": f"Model '{model.name}' is {model.status}, not ready."})
        return model

    @staticmethod
    def aggregate_name(request) -> str:
        how = (request.data.get("aggregate") if isinstance(request.data, dict) else None) \
            or request.query_params.get("aggregate") or "min"
        if how not in AGGREGATES:
            raise ValidationError({"aggregate": f"Use one of {', '.join(AGGREGATES)}."})
        return how


def split_steps(text: str, delimiter: str) -> list[str]:
    return [s.strip() for s in text.split(delimiter) if s.strip()]


def parse_items(data) -> list[tuple[str, list[str]]]:
    """Validate the /score body into (problem, steps) pairs; any fault is a 400."""
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ValidationError({"items": "Send a JSON object with a list 'items'."})
    items = data["items"]
    if not 1 <= len(items) <= MAX_ITEMS:
        raise ValidationError({"items": f"Send between 1 and {MAX_ITEMS} items."})
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("problem", ""), str):
            raise ValidationError({"items": f"Item {i}: an object with a string 'problem'."})
        if "steps" in item:
            steps = item["steps"]
            if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
                raise ValidationError({"items": f"Item {i}: 'steps' must be a list of strings."})
        elif isinstance(item.get("text"), str):
            delimiter = item.get("delimiter", data.get("delimiter", DEFAULT_DELIMITER))
            if not isinstance(delimiter, str) or not delimiter:
                raise ValidationError({"items": f"Item {i}: 'delimiter' must be a non-empty string."})
            steps = split_steps(item["text"], delimiter)
        else:
            raise ValidationError({"items": f"Item {i}: give 'steps' or 'text'."})
        if not steps or len(steps) > MAX_STEPS:
            raise ValidationError({"items": f"Item {i}: between 1 and {MAX_STEPS} steps."})
        out.append((item.get("problem", ""), steps))
    return out


MODEL_ID = OpenApiParameter("model_id", int, OpenApiParameter.PATH, description="PRM id")


class ScoreView(_PrmView):
    @extend_schema(request=schema.ScoreRequest, responses={200: schema.ScoreResponse},
                   parameters=[MODEL_ID], tags=["prm"],
                   summary="Per-step PRM scores and an aggregate, for a batch of solutions")
    def post(self, request, model_id: int):
        model = self.ready_model(request, model_id)
        how = self.aggregate_name(request)
        items = parse_items(request.data)
        scores = cached_scorer(model.artifact_path).score(items)
        return Response({
            "model": {"id": model.pk, "name": model.name},
            "aggregate": how,
            "results": [{"steps": len(steps), "step_scores": sc, "score": aggregate(sc, how)}
                        for (_, steps), sc in zip(items, scores)],
        })


class OpenRlhfView(_PrmView):
    """OpenRLHF ``--remote_rm_url``: each query is the prompt followed by the response."""

    @extend_schema(request=schema.OpenRlhfRequest, responses={200: schema.OpenRlhfResponse},
                   parameters=[MODEL_ID], tags=["prm"],
                   summary="OpenRLHF remote reward protocol")
    def post(self, request, model_id: int):
        model = self.ready_model(request, model_id)
        how = self.aggregate_name(request)
        data = request.data if isinstance(request.data, dict) else {}
        queries, prompts = data.get("query"), data.get("prompts")
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise ValidationError({"query": "Send 'query' as a list of strings."})
        if not 1 <= len(queries) <= MAX_ITEMS:
            raise ValidationError({"query": f"Send between 1 and {MAX_ITEMS} queries."})
        if prompts is not None and (not isinstance(prompts, list) or len(prompts) != len(queries)
                                    or not all(isinstance(p, str) for p in prompts)):
            raise ValidationError({"prompts": "'prompts' must be strings, one per query."})
        delimiter = data.get("delimiter") or DEFAULT_DELIMITER
        if not isinstance(delimiter, str):
            raise ValidationError({"delimiter": "'delimiter' must be a non-empty string."})
        items = []
        for i, query in enumerate(queries):
            prompt = prompts[i] if prompts else ""
            response = query[len(prompt):] if prompt and query.startswith(prompt) else query
            items.append((prompt, split_steps(response, delimiter) or [response.strip() or "(empty)"]))
        scores = cached_scorer(model.artifact_path).score(items)
        rewards = [aggregate(sc, how) for sc in scores]
        return Response({"rewards": [0.0 if r is None else r for r in rewards]},
                        status=status.HTTP_200_OK)


class ModelListView(_PrmView):
    @extend_schema(responses={200: schema.ModelListResponse}, tags=["prm"],
                   summary="Ready PRMs of your projects")
    def get(self, request):
        models = PrmModel.objects.filter(project__in=visible_projects(request.user),
                                         status=PrmModel.Status.READY).select_related("project")
        return Response({"models": [
            {"id": m.pk, "name": m.name, "project": m.project.slug, "base_model": m.base_model,
             "metrics": m.metrics.get("step", {})} for m in models]})
