"""Project and membership writes for the admin UI. Nothing here deletes labeling data."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from annotate.models import Membership, Project


def unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "project"
    if base == "new":  # /manage/new/ is the create page
        base = "new-project"
    slug, n = base, 2
    while Project.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def create_project(*, created_by, **fields) -> Project:
    """Create a project; its creator becomes its first admin."""
    if not fields.get("slug"):
        fields["slug"] = unique_slug(fields.get("name", ""))
    project = Project(created_by=created_by, **fields)
    project.full_clean()
    project.save()
    Membership.objects.create(project=project, user=created_by, role=Membership.Role.ADMIN)
    return project


@transaction.atomic
def update_project(project: Project, **fields) -> Project:
    for name, value in fields.items():
        setattr(project, name, value)
    project.full_clean()
    project.save()
    return project


def archive_project(project: Project) -> Project:
    """Archived projects leave the annotators' lists; every row stays."""
    if project.archived_at is None:
        project.archived_at = timezone.now()
        project.save(update_fields=["archived_at", "updated"])
    return project


def unarchive_project(project: Project) -> Project:
    project.archived_at = None
    project.save(update_fields=["archived_at", "updated"])
    return project


def _check_role(role: str) -> None:
    if role not in Membership.Role.values:
        raise ValidationError(f"Unknown role '{role}'; use one of {', '.join(Membership.Role.values)}.")


@transaction.atomic
def add_member(project: Project, *, username: str, role: str, password: str = "",
               email: str = "") -> Membership:
    """Add an existing user by username, or create them when a password is given."""
    _check_role(role)
    User = get_user_model()
    username = username.strip()
    if not username:
        raise ValidationError("A username is required.")
    user = User.objects.filter(username=username).first()
    if user is None:
        if not password:
            raise ValidationError(
                f"No user '{username}' exists; give a password to create the account.")
        user = User(username=username, email=email)
        validate_password(password, user)
        user.full_clean(exclude=["password"])
        user.set_password(password)
        user.save()
    elif password:
        raise ValidationError(f"User '{username}' already exists; leave the password empty.")
    membership, created = Membership.objects.get_or_create(
        project=project, user=user, defaults={"role": role})
    if not created:
        raise ValidationError(f"'{username}' is already a member ({membership.role}).")
    return membership


def _last_admin_guard(membership: Membership, new_role: str | None) -> None:
    if membership.role == Membership.Role.ADMIN and new_role != Membership.Role.ADMIN:
        admins = Membership.objects.filter(project=membership.project, role=Membership.Role.ADMIN)
        if admins.count() <= 1:
            raise ValidationError("A project keeps at least one admin.")


@transaction.atomic
def set_role(membership: Membership, role: str) -> Membership:
    _check_role(role)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _last_admin_guard(membership, role)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(membership: Membership) -> None:
    """Removes access only; the member's assignments and ratings stay."""
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _last_admin_guard(membership, None)
    membership.delete()
