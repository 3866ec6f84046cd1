"""Reads of the training app, scoped to the user's projects."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from annotate.models import Membership
from annotate.selectors.projects import role_in, visible_projects

from .models import PrmModel

STAFF_ROLES = (Membership.Role.ADMIN, Membership.Role.REVIEWER)


def admin_projects(user):
    """Projects where the user may train models (admins; superusers everywhere)."""
    projects = visible_projects(user).filter(archived_at__isnull=True)
    if user.is_superuser:
        return projects
    return projects.filter(memberships__user=user, memberships__role=Membership.Role.ADMIN)


def models_for(user) -> QuerySet[PrmModel]:
    """Models whose scores and metrics the user may see: of the projects they administer or
    review, and of those they annotate where the project shows hints (machine scores follow
    ``show_hints`` for annotators, as in ``annotate.selectors.visibility``)."""
    projects = visible_projects(user)
    if not user.is_superuser:
        seen = Membership.objects.filter(user=user).filter(
            Q(role__in=STAFF_ROLES) | Q(role=Membership.Role.ANNOTATOR, project__show_hints=True))
        projects = projects.filter(pk__in=seen.values("project_id"))
    return PrmModel.objects.filter(project__in=projects).select_related("project", "run")


def administered_model(user, model_id: int) -> PrmModel | None:
    """The model, when the user is an admin of its project (what starting work on it needs)."""
    model = PrmModel.objects.filter(pk=model_id).select_related("project").first()
    if model is None or role_in(model.project, user) != Membership.Role.ADMIN:
        return None
    return model


def curve_svg(points: list[dict], width: int = 560, height: int = 180, pad: int = 28) -> dict:
    """Polyline coordinates of the train and validation loss, for an inline SVG."""
    train = [(p["step"], p["train_loss"]) for p in points if p.get("train_loss") is not None]
    val = [(p["step"], p["val_loss"]) for p in points if p.get("val_loss") is not None]
    every = train + val
    if not every:
        return {}
    max_x = max(x for x, _ in every) or 1
    lo, hi = min(y for _, y in every), max(y for _, y in every)
    span = (hi - lo) or 1.0

    def xy(x, y):
        return (f"{pad + (width - 2 * pad) * x / max_x:.1f},"
                f"{height - pad - (height - 2 * pad) * (y - lo) / span:.1f}")

    return {"width": width, "height": height, "pad": pad,
            "train": " ".join(xy(x, y) for x, y in train),
            "val": " ".join(xy(x, y) for x, y in val),
            "max": round(hi, 4), "min": round(lo, 4), "last_step": max_x}
