"""Reward service for RL trainers: per-step PRM scores and an aggregate, batched.

``POST /api/prm/<id>/score`` takes items of a problem with steps (or raw text and a
delimiter); ``POST /api/prm/<id>/openrlhf`` speaks OpenRLHF's remote reward
protocol (``{"query": [...], "prompts": [...], "labels": [...]}`` in,
``{"rewards", "scores", "extra_logs"}`` out). Any member of the model's project may
call them, with a session or an API token.

OpenRLHF sends no Authorization header, so a project admin makes a **reward URL**
(``POST /api/prm/<id>/reward-urls/``): ``/api/prm/reward/<secret>/`` speaks the same
protocol for that one model until it is revoked.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.selectors.projects import role_in, visible_projects
from annotate.selectors.visibility import machine_scores_hidden
from annotate.trajectory import TrajectoryError
from api import reward_schema as schema
from api.authentication import RewardUrlAuthentication
from api.models import APIToken, RewardUrl, hash_key
from api.permissions import ADMIN_ROLES, require_role
from api.reward_messages import trajectory_item
from api.views.common import PERMISSIONS
from generation.sampling import split_steps as split_text
from training.backends import ScoringUnavailable, scorer_for
from training.models import PrmModel
from training.scoring import (
    AGGREGATES,
    ModelFilesMissing,
    TokenBudgetExceeded,
    aggregate,
)

MAX_ITEMS = 256
MAX_STEPS = 200
EMPTY_SCORE = 0.0  # the worst a PRM gives: an empty completion never outscores a real one
SCORING_RETRY_AFTER = 30  # seconds, on a 503 from a scoring server that is down


def max_tokens() -> int:
    return settings.PRM_REWARD_MAX_TOKENS


def score_within_budget(model: PrmModel, items: list[tuple[str, list[str]]]):
    return scorer_for(model).score(items, max_tokens=max_tokens())


class _PrmView(APIView):

    def handle_exception(self, exc):
        if isinstance(exc, TokenBudgetExceeded):
            return Response({
                "detail": f"This request is {exc.tokens:,} model tokens; the budget is "
                          f"{exc.budget:,} tokens per request. Send fewer or shorter items.",
                "tokens": exc.tokens, "max_tokens": exc.budget},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        if isinstance(exc, ModelFilesMissing):
            # The request is fine; the model's state is not: a 409, never a 500.
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, ScoringUnavailable):
            # The scoring server is down or lacks the model: retryable, and said so.
            return Response({"detail": str(exc), "reason": exc.reason},
                            status=status.HTTP_503_SERVICE_UNAVAILABLE,
                            headers={"Retry-After": str(SCORING_RETRY_AFTER)})
        if isinstance(exc, RequestDataTooBig):
            # stepwise/wsgi.py answers this first; a server without it (runserver, ASGI)
            # would give Django's HTML 400 page to a JSON client.
            length = self.request.META.get("CONTENT_LENGTH") or "?"
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return Response({"detail": f"The request is {length} bytes; the limit is "
                                       f"{limit} bytes. Send less at once."},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        return super().handle_exception(exc)

    def ready_model(self, request, model_id: int) -> PrmModel:
        model = PrmModel.objects.filter(
            pk=model_id, project__in=visible_projects(request.user)).first()
        if model is None:
            raise NotFound("No such PRM in your projects.")
        if machine_scores_hidden(model.project, role_in(model.project, request.user)):
            raise PermissionDenied("PRM scores are hidden from annotators in this project "
                                   "(its hints are off).")
        return check_ready(model)

    @staticmethod
    def aggregate_name(request, default: str = "min") -> str:
        how = (request.data.get("aggregate") if isinstance(request.data, dict) else None) \
            or request.query_params.get("aggregate") or default
        if how not in AGGREGATES:
            raise ValidationError({"aggregate": f"Use one of {', '.join(AGGREGATES)}."})
        return how


def check_ready(model: PrmModel) -> PrmModel:
    if model.status != PrmModel.Status.READY:
        raise ValidationError({"model": f"Model '{model.name}' is {model.status}, not ready."})
    return model


def split_steps(text: str, delimiter: str) -> list[str]:
    """Every step sent, split as generation splits them (a bare ``# Answer`` takes the next
    piece, PRM800K's form of the answer step)."""
    return split_text(text, delimiter, stop_at_answer=False)[0]


def delimiter_of(value, model: PrmModel, field: str) -> str:
    if value is None:
        return model.step_delimiter
    if not isinstance(value, str) or not value:
        raise ValidationError({field: "'delimiter' must be a non-empty string."})
    return value


def parse_items(data, model: PrmModel) -> list[tuple[str, list[str]]]:
    """Validate the /score body into (problem, steps) pairs; any fault is a 400."""
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ValidationError({"items": "Send a JSON object with a list 'items'."})
    items = data["items"]
    if not 1 <= len(items) <= MAX_ITEMS:
        raise ValidationError({"items": f"Send between 1 and {MAX_ITEMS} items."})
    default_delimiter = delimiter_of(data.get("delimiter"), model, "delimiter")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and "messages" in item:
            out.append(messages_item(item, f"Item {i}", "items"))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("problem"), str):
            raise ValidationError({"items": f"Item {i}: an object with a string 'problem' "
                                            "(required; it may be empty), or 'messages'."})
        if "steps" in item:
            steps = item["steps"]
            if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
                raise ValidationError({"items": f"Item {i}: 'steps' must be a list of strings."})
            blank = next((j for j, s in enumerate(steps) if not s.strip()), None)
            if blank is not None:
                raise ValidationError({"items": f"Item {i}: step {blank} is empty."})
        elif isinstance(item.get("text"), str):
            delimiter = (delimiter_of(item["delimiter"], model, "items")
                         if "delimiter" in item else default_delimiter)
            steps = split_steps(item["text"], delimiter)
            if not steps:  # an empty completion: scored the worst, not a 400 for the batch
                out.append((item["problem"], steps))
                continue
        else:
            raise ValidationError({"items": f"Item {i}: give 'steps' or 'text'."})
        if not steps or len(steps) > MAX_STEPS:
            raise ValidationError({"items": f"Item {i}: between 1 and {MAX_STEPS} steps."})
        out.append((item["problem"], steps))
    return out


def messages_item(item: dict, where: str, field: str) -> tuple[str, list[str]]:
    """A trajectory item (``api.reward_messages``): (prompt, one step per assistant turn);
    a bad shape is a 400 naming the message."""
    extra = sorted(set(item) & {"problem", "steps", "text"})
    if extra:
        raise ValidationError({field: f"{where}: give 'messages' or problem and steps, not both "
                                      f"('{extra[0]}' with 'messages')."})
    try:
        prompt, steps, _turns = trajectory_item(item["messages"], item.get("system"))
    except TrajectoryError as exc:
        raise ValidationError({field: f"{where}: {exc}."})
    if len(steps) > MAX_STEPS:
        raise ValidationError({field: f"{where}: {len(steps)} assistant turns; at most "
                                      f"{MAX_STEPS}."})
    return prompt, steps


def openrlhf_answer(model: PrmModel, request, how: str) -> dict:
    """OpenRLHF's body in, what its reward client reads out.

    An empty response scores 0.0, the worst a PRM can give, without running the model.
    A prompt that does not begin its query cannot be stripped: the whole query is scored
    as the response, and ``extra_logs.prm_prompt_mismatch`` and ``warnings`` say so.
    """
    data = request.data if isinstance(request.data, dict) else {}
    if "messages" in data:
        return openrlhf_trajectories(model, data, how)
    queries, prompts = data.get("query"), data.get("prompts")
    if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
        raise ValidationError({"query": "Send 'query' as a list of strings."})
    if not 1 <= len(queries) <= MAX_ITEMS:
        raise ValidationError({"query": f"Send between 1 and {MAX_ITEMS} queries."})
    if prompts is not None and (not isinstance(prompts, list) or len(prompts) != len(queries)
                                or not all(isinstance(p, str) for p in prompts)):
        raise ValidationError({"prompts": "'prompts' must be strings, one per query."})
    # OpenRLHF sends only the body it builds, so a reward URL may carry these instead.
    delimiter = delimiter_of(data.get("delimiter", request.query_params.get("delimiter")),
                             model, "delimiter")
    items, index, mismatch, warnings = [], [], [], []
    for i, query in enumerate(queries):
        prompt = prompts[i] if prompts else ""
        matched = query.startswith(prompt)
        mismatch.append(0.0 if matched else 1.0)
        if not matched:
            warnings.append(f"Query {i}: its prompt is not a prefix of it; "
                            "the whole query was scored as the response.")
        steps = split_steps(query[len(prompt):] if matched else query, delimiter)
        if steps:
            items.append((prompt, steps))
            index.append(i)
    step_scores: list[list[float | None]] = [[] for _ in queries]
    for i, sc in zip(index, score_within_budget(model, items) if items else []):
        step_scores[i] = sc
    rewards = []
    for sc in step_scores:
        value = aggregate(sc, how)
        rewards.append(0.0 if value is None else value)
    # One number per query and key: OpenRLHF turns each into a tensor and logs it.
    extra_logs = {
        "prm_steps": [float(len(sc)) for sc in step_scores],
        "prm_min": [aggregate(sc, "min") or 0.0 for sc in step_scores],
        "prm_last": [aggregate(sc, "last") or 0.0 for sc in step_scores],
        "prm_empty": [0.0 if sc else 1.0 for sc in step_scores],
        "prm_prompt_mismatch": mismatch,
    }
    return {"rewards": rewards, "scores": rewards, "step_scores": step_scores,
            "extra_logs": extra_logs, "aggregate": how, "warnings": warnings}


def openrlhf_trajectories(model: PrmModel, data: dict, how: str) -> dict:
    """OpenRLHF's answer for ``messages``: a list of trajectories in place of query and
    prompts, one reward each and one step score per assistant turn."""
    trajectories = data["messages"]
    if "query" in data or "prompts" in data:
        raise ValidationError({"messages": "Send 'messages' or 'query' (with 'prompts'), "
                                           "not both."})
    if not isinstance(trajectories, list) or not 1 <= len(trajectories) <= MAX_ITEMS \
            or not all(isinstance(t, list) for t in trajectories):
        raise ValidationError({"messages": f"Send 'messages' as a list of 1 to {MAX_ITEMS} "
                                           "trajectories, each a list of chat messages."})
    items = [messages_item({"messages": t}, f"Trajectory {i}", "messages")
             for i, t in enumerate(trajectories)]
    step_scores = score_within_budget(model, items)
    rewards = [aggregate(sc, how) for sc in step_scores]
    rewards = [0.0 if r is None else r for r in rewards]
    extra_logs = {
        "prm_steps": [float(len(sc)) for sc in step_scores],
        "prm_min": [aggregate(sc, "min") or 0.0 for sc in step_scores],
        "prm_last": [aggregate(sc, "last") or 0.0 for sc in step_scores],
        "prm_empty": [0.0] * len(step_scores),
        "prm_prompt_mismatch": [0.0] * len(step_scores),
    }
    return {"rewards": rewards, "scores": rewards, "step_scores": step_scores,
            "extra_logs": extra_logs, "aggregate": how, "warnings": []}


MODEL_ID = OpenApiParameter("model_id", int, OpenApiParameter.PATH, description="PRM id")


class ScoreView(_PrmView):
    @extend_schema(request=schema.ScoreRequest, responses={200: schema.ScoreResponse},
                   parameters=[MODEL_ID], tags=["prm"],
                   summary="Per-step PRM scores and an aggregate, for a batch of solutions")
    def post(self, request, model_id: int):
        model = self.ready_model(request, model_id)
        how = self.aggregate_name(request)
        items = parse_items(request.data, model)
        todo = [item for item in items if item[1]]
        scored = iter(score_within_budget(model, todo) if todo else [])
        # An empty completion (a text with no step) scores 0.0, the worst, as on /openrlhf.
        results = []
        for _problem, steps in items:
            sc = next(scored) if steps else []
            results.append({"steps": len(steps), "step_scores": sc,
                            "score": aggregate(sc, how) if steps else EMPTY_SCORE})
        return Response({"model": {"id": model.pk, "name": model.name}, "aggregate": how,
                         "results": results})


class OpenRlhfView(_PrmView):
    """OpenRLHF's remote reward protocol, with a session or an API token."""

    @extend_schema(request=schema.OpenRlhfRequest, responses={200: schema.OpenRlhfResponse},
                   parameters=[MODEL_ID], tags=["prm"],
                   summary="OpenRLHF remote reward protocol")
    def post(self, request, model_id: int):
        model = self.ready_model(request, model_id)
        return Response(openrlhf_answer(model, request, self.aggregate_name(request)))


class RewardUrlScoreView(_PrmView):
    """``--reward.remote_url`` for OpenRLHF: the secret in the path is the credential."""

    authentication_classes = [RewardUrlAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(request=schema.OpenRlhfRequest, responses={200: schema.OpenRlhfResponse},
                   parameters=[OpenApiParameter("key", str, OpenApiParameter.PATH,
                                                description="The reward URL's secret")],
                   tags=["prm"], summary="OpenRLHF remote reward protocol, by reward URL",
                   auth=[{}])  # no header: the secret is in the path
    def post(self, request, key: str):
        model = check_ready(request.auth.prm_model)
        return Response(openrlhf_answer(model, request, self.aggregate_name(request)))


def reward_url_row(reward_url: RewardUrl) -> dict:
    return {"id": reward_url.pk, "name": reward_url.name, "prefix": reward_url.prefix,
            "created": reward_url.created, "last_used_at": reward_url.last_used_at,
            "revoked_at": reward_url.revoked_at}


class _RewardUrlAdmin(_PrmView):
    permission_classes = PERMISSIONS

    def admin_model(self, request, model_id: int) -> PrmModel:
        model = PrmModel.objects.filter(
            pk=model_id, project__in=visible_projects(request.user)).select_related(
            "project").first()
        if model is None:
            raise NotFound("No such PRM in your projects.")
        require_role(model.project, request.user, ADMIN_ROLES, "manage reward URLs")
        return model


class RewardUrlListView(_RewardUrlAdmin):
    @extend_schema(responses={200: schema.RewardUrlList}, parameters=[MODEL_ID], tags=["prm"],
                   summary="The model's reward URLs (their secrets are never shown again)")
    def get(self, request, model_id: int):
        model = self.admin_model(request, model_id)
        return Response({"reward_urls": [reward_url_row(r) for r in model.reward_urls.all()]})

    @extend_schema(request=schema.RewardUrlCreate, responses={201: schema.RewardUrlCreated},
                   parameters=[MODEL_ID], tags=["prm"],
                   summary="Make a reward URL for OpenRLHF; the URL is shown once")
    def post(self, request, model_id: int):
        model = self.admin_model(request, model_id)
        if isinstance(request.auth, APIToken):
            # Like a token, a reward URL is a credential: a leaked token must not mint one.
            raise PermissionDenied("Make reward URLs from a signed-in browser session.")
        name = request.data.get("name", "") if isinstance(request.data, dict) else ""
        if not isinstance(name, str) or len(name) > 100:
            raise ValidationError({"name": "'name' must be a string of at most 100 characters."})
        key = APIToken.generate_key()
        reward_url = RewardUrl.objects.create(prm_model=model, name=name.strip(),
                                              prefix=key[:10], key_hash=hash_key(key),
                                              created_by=request.user)
        url = request.build_absolute_uri(reverse("prm_api:reward", kwargs={"key": key}))
        return Response({**reward_url_row(reward_url), "url": url},
                        status=status.HTTP_201_CREATED)


class RewardUrlRevokeView(_RewardUrlAdmin):
    @extend_schema(request=None, responses={200: schema.RewardUrlRow},
                   parameters=[MODEL_ID, OpenApiParameter("url_id", int, OpenApiParameter.PATH)],
                   tags=["prm"], summary="Revoke a reward URL at once")
    def delete(self, request, model_id: int, url_id: int):
        model = self.admin_model(request, model_id)
        reward_url = model.reward_urls.filter(pk=url_id).first()
        if reward_url is None:
            raise NotFound("No such reward URL for this model.")
        RewardUrl.objects.filter(pk=reward_url.pk, revoked_at=None).update(
            revoked_at=timezone.now())
        reward_url.refresh_from_db()
        return Response(reward_url_row(reward_url))


class ModelListView(_PrmView):
    @extend_schema(responses={200: schema.ModelListResponse}, tags=["prm"],
                   summary="Ready PRMs of your projects")
    def get(self, request):
        models = PrmModel.objects.filter(project__in=visible_projects(request.user),
                                         status=PrmModel.Status.READY).select_related("project")
        return Response({"models": [
            {"id": m.pk, "name": m.name, "project": m.project.slug, "base_model": m.base_model,
             "step_delimiter": m.step_delimiter, "metrics": m.metrics.get("step", {})}
            for m in models]})
