"""Training UI: model list and training form, a model's live progress and metrics."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate.models import Membership
from annotate.selectors.projects import role_in

from .display import public_model
from .locations import model_choices
from .models import PrmModel
from .selectors import admin_projects, administered_model, curve_svg, models_for
from .services import TrainingError, form_defaults, register_model, start_scoring, start_training
from .snapshots import snapshot_choices

FORM_NUMBERS = {"learning_rate": float, "head_learning_rate": float, "epochs": int,
                "batch_size": int, "effective_batch_size": int, "max_length": int, "seed": int,
                "val_fraction": float, "early_stopping_patience": int, "lora_rank": int,
                "lora_alpha": int, "lora_dropout": float, "processes": int}
FORM_CHOICES = ("neutral", "after_first_error", "precision", "activation_checkpointing",
                "attention", "quantization", "lora_save", "strategy")


@login_required
def model_list(request):
    return render(request, "training/list.html", _list_context(request))


def _list_context(request, **extra) -> dict:
    """The list, the form, and the defaults the form shows for this deployment's workers."""
    projects = admin_projects(request.user)
    return {"models": models_for(request.user), "projects": projects,
            "defaults": form_defaults(), "model_choices": model_choices(projects),
            "snapshots": snapshot_choices(projects), **extra}


def _snapshot(post) -> tuple[int | None, str | None]:
    raw, split = post.get("snapshot_id", "").strip(), post.get("snapshot_split", "").strip()
    if not raw:
        return None, split or None
    if not raw.isdigit() or len(raw) > 18:
        raise TrainingError("'snapshot_id' must be a snapshot's number.")
    return int(raw), split or None


def _labels(post) -> dict | None:
    """The form's label rule (JSON), or None when left empty."""
    raw = post.get("labels", "").strip()
    if not raw:
        return None
    try:
        rule = json.loads(raw)
    except ValueError:
        raise TrainingError('labels: the label rule is JSON, e.g. {"rule": "agree", "sources": '
                            '["judge:a", "judge:b"]}.') from None
    if not isinstance(rule, dict):
        raise TrainingError("labels: a label rule is a JSON object.")
    return rule


def _form_hyperparameters(post) -> dict:
    hp = {}
    for key, cast in FORM_NUMBERS.items():
        raw = post.get(key, "").strip()
        if raw:
            try:
                hp[key] = cast(raw)
            except ValueError:
                raise TrainingError(f"'{key}' must be a number.") from None
    for key in FORM_CHOICES:
        if post.get(key):
            hp[key] = post[key]
    return hp


@login_required
@require_POST
def model_create(request):
    raw = request.POST.get("project", "")
    project = admin_projects(request.user).filter(pk=int(raw)).first() if raw.isdigit() else None
    if project is None:
        return render(request, "training/list.html",
                      _list_context(request, error="Pick a project you administer."), status=403)
    try:
        snapshot_id, split = _snapshot(request.POST)
        model = start_training(
            project=project, name=request.POST.get("name", ""),
            base_model=request.POST.get("base_model", ""),
            hyperparameters=_form_hyperparameters(request.POST),
            snapshot_id=snapshot_id, snapshot_split=split, labels=_labels(request.POST),
            score_after=bool(request.POST.get("score_after")), user=request.user,
        )
    except TrainingError as exc:
        return render(request, "training/list.html",
                      _list_context(request, error=str(exc), form=request.POST), status=400)
    return redirect("training:detail", model_id=model.pk)


@login_required
@require_POST
def model_register(request):
    """A PRM trained elsewhere: a token classifier, or a "+"/"-" next-token PRM."""
    raw = request.POST.get("project", "")
    project = admin_projects(request.user).filter(pk=int(raw)).first() if raw.isdigit() else None
    if project is None:
        return render(request, "training/list.html",
                      _list_context(request, error="Pick a project you administer."), status=403)
    family = request.POST.get("family", "token_classification")
    scoring = None
    if family in ("tag", "chat"):
        scoring = {"kind": "next_token", "format": family}
        for key in ("step_tag", "good", "bad"):
            if request.POST.get(key, "").strip():
                scoring[key] = request.POST[key].strip()
    elif family != "token_classification":
        return render(request, "training/list.html",
                      _list_context(request, error="Unknown PRM family."), status=400)
    try:
        model = register_model(project=project, name=request.POST.get("name", ""),
                               path=request.POST.get("path", "").strip(), scoring=scoring,
                               user=request.user)
    except TrainingError as exc:
        return render(request, "training/list.html",
                      _list_context(request, error=str(exc), form=request.POST), status=400)
    return redirect("training:detail", model_id=model.pk)


def _visible_model(request, model_id: int) -> PrmModel:
    model = models_for(request.user).filter(pk=model_id).first()
    if model is None:
        raise Http404("No such model.")
    return model


def _context(model: PrmModel, user) -> dict:
    return {"model": model, "shown": public_model(model), "run": model.run,
            "svg": curve_svg(model.curve or []), "metrics": model.metrics or {},
            "can_admin": role_in(model.project, user) == Membership.Role.ADMIN}


@login_required
def model_detail(request, model_id: int):
    model = _visible_model(request, model_id)
    return render(request, "training/detail.html", _context(model, request.user))


@login_required
def model_progress(request, model_id: int):
    """The htmx-polled fragment: run progress, loss curve, metrics once ready."""
    model = _visible_model(request, model_id)
    return render(request, "training/_progress.html", _context(model, request.user))


@login_required
@require_POST
def model_score(request, model_id: int):
    model = administered_model(request.user, model_id)
    if model is None:
        raise Http404("No such model.")
    try:
        run = start_scoring(prm_model=model, user=request.user)
    except TrainingError as exc:
        messages.error(request, str(exc))
        return redirect("training:detail", model_id=model.pk)
    messages.success(request, f"Scoring started (run {run.pk}).")
    return redirect("training:detail", model_id=model.pk)
