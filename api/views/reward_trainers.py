"""The reward service in the shapes RL trainers send, beside OpenRLHF's (``reward.py``).

* ``/classify``: vLLM's classification API, which verl's reward-model path calls. Each
  ``input`` is a whole text; it is split into steps by the model's delimiter and answered
  with the last step's score as ``probs[-1]`` (``[P(bad), P(good)]``).
* ``/slime``: slime's ``--rm-url`` body, ``{"prompt", "response", "label"}`` (or a
  trajectory as ``messages``, ``api.reward_messages``), answered with the reward as a bare
  JSON number (what slime reads without ``--reward-key``).

Both take one sample per request as happily as a batch: concurrent requests share forward
passes (``training.backends.batching``).
"""

from __future__ import annotations

import time
import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api import reward_schema as schema
from api.authentication import RewardUrlAuthentication
from training.backends import scorer_for
from training.models import PrmModel
from training.scoring import aggregate
from training.serving import served_model_name

from .reward import (
    EMPTY_SCORE,
    MAX_ITEMS,
    MAX_STEPS,
    MODEL_ID,
    _PrmView,
    check_ready,
    delimiter_of,
    messages_item,
    score_within_budget,
    split_steps,
)

KEY = OpenApiParameter("key", str, OpenApiParameter.PATH, description="The reward URL's secret")


def _steps(text: str, delimiter: str, what: str) -> list[str]:
    steps = split_steps(text, delimiter)
    if len(steps) > MAX_STEPS:
        raise ValidationError({what: f"At most {MAX_STEPS} steps per text; this has {len(steps)}."})
    return steps


def classify_answer(model: PrmModel, request, how: str) -> dict:
    data = request.data if isinstance(request.data, dict) else {}
    inputs = data.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs):
        raise ValidationError({"input": "Send 'input' as a string or a list of strings (text: "
                                        "Stepwise tokenizes it for the PRM)."})
    if not 1 <= len(inputs) <= MAX_ITEMS:
        raise ValidationError({"input": f"Send between 1 and {MAX_ITEMS} inputs."})
    delimiter = delimiter_of(data.get("delimiter", request.query_params.get("delimiter")),
                             model, "delimiter")
    items, index = [], []
    for i, text in enumerate(inputs):
        steps = _steps(text, delimiter, "input")
        if steps:  # the whole text is the steps: the classify shape has no separate prompt
            items.append(("", steps))
            index.append(i)
    scores = [EMPTY_SCORE] * len(inputs)
    for i, sc in zip(index, score_within_budget(model, items) if items else []):
        value = aggregate(sc, how)
        scores[i] = EMPTY_SCORE if value is None else value
    tokens = sum(scorer_for(model).token_counts(items)) if items else 0
    return {
        "id": f"classify-{uuid.uuid4().hex}", "object": "list", "created": int(time.time()),
        "model": served_model_name(model),
        "data": [{"index": i, "label": "good" if s >= 0.5 else "bad",
                  "probs": [round(1.0 - s, 6), s], "num_classes": 2}
                 for i, s in enumerate(scores)],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens, "completion_tokens": 0},
    }


def _prompt_text(prompt) -> str:
    """slime's prompt: a string, or chat messages (the last user turn is the problem)."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt):
        users = [m.get("content") for m in prompt if m.get("role") == "user"]
        if users and isinstance(users[-1], str):
            return users[-1]
    raise ValidationError({"prompt": "Send 'prompt' as a string or a list of chat messages "
                                     "with a user turn."})


def slime_answer(model: PrmModel, request, how: str) -> float:
    data = request.data if isinstance(request.data, dict) else {}
    if "messages" in data:  # a trajectory in place of prompt and response
        if "prompt" in data or "response" in data:
            raise ValidationError({"messages": "Send 'messages' or 'prompt' and 'response', "
                                               "not both."})
        item = messages_item({"messages": data["messages"], "system": data.get("system")},
                             "The trajectory", "messages")
        value = aggregate(score_within_budget(model, [item])[0], how)
        return EMPTY_SCORE if value is None else value
    response = data.get("response")
    if not isinstance(response, str):
        raise ValidationError({"response": "Send 'response' as a string."})
    prompt = _prompt_text(data.get("prompt", ""))
    delimiter = delimiter_of(data.get("delimiter", request.query_params.get("delimiter")),
                             model, "delimiter")
    steps = _steps(response, delimiter, "response")
    if not steps:
        return EMPTY_SCORE
    value = aggregate(score_within_budget(model, [(prompt, steps)])[0], how)
    return EMPTY_SCORE if value is None else value


class ClassifyView(_PrmView):
    @extend_schema(request=schema.ClassifyRequest, responses={200: schema.ClassifyResponse},
                   parameters=[MODEL_ID], tags=["prm"],
                   summary="vLLM's /classify shape (verl): the last step's score per text")
    def post(self, request, model_id: int):
        model = self.ready_model(request, model_id)
        return Response(classify_answer(model, request, self.aggregate_name(request, "last")))


class SlimeView(_PrmView):
    @extend_schema(request=schema.SlimeRequest, responses={200: OpenApiTypes.FLOAT},
                   parameters=[MODEL_ID], tags=["prm"],
                   summary="slime's --rm-url shape: one reward, a bare number")
    def post(self, request, model_id: int):
        model = self.ready_model(request, model_id)
        return Response(slime_answer(model, request, self.aggregate_name(request)))


class _ByRewardUrl(_PrmView):
    authentication_classes = [RewardUrlAuthentication]
    permission_classes = [IsAuthenticated]


class RewardUrlClassifyView(_ByRewardUrl):
    @extend_schema(request=schema.ClassifyRequest, responses={200: schema.ClassifyResponse},
                   parameters=[KEY], tags=["prm"], auth=[{}],
                   summary="vLLM's /classify shape (verl), by reward URL")
    def post(self, request, key: str):
        model = check_ready(request.auth.prm_model)
        return Response(classify_answer(model, request, self.aggregate_name(request, "last")))


@extend_schema_view(post=extend_schema(exclude=True))  # the same operation, described once
class RewardUrlClassifySlashView(RewardUrlClassifyView):
    pass


class RewardUrlSlimeView(_ByRewardUrl):
    @extend_schema(request=schema.SlimeRequest, responses={200: OpenApiTypes.FLOAT},
                   parameters=[KEY], tags=["prm"], auth=[{}],
                   summary="slime's --rm-url shape, by reward URL")
    def post(self, request, key: str):
        model = check_ready(request.auth.prm_model)
        return Response(slime_answer(model, request, self.aggregate_name(request)))
