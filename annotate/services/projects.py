"""Project and membership writes for the admin UI. Nothing here deletes labeling data."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from annotate.models import Assignment, Membership, Project

from . import accounts
from .queue import slot_freed


def unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "project"
    if base == "new":  # /manage/new/ is the create page
        base = "new-project"
    slug, n = base, 2
    while Project.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


SLUG_TRIES = 5


@transaction.atomic
def create_project(*, created_by, **fields) -> Project:
    """Create a project; its creator becomes its first admin.

    Two creates of one name at once both pick the same free slug; the one that loses the
    insert takes the next slug (as a later create would), rather than failing."""
    auto_slug = not fields.get("slug")
    for attempt in range(SLUG_TRIES):
        if auto_slug:
            fields["slug"] = unique_slug(fields.get("name", ""))
        project = Project(created_by=created_by, **fields)
        project.full_clean()
        try:
            with transaction.atomic():  # a savepoint: a lost race leaves the outer one usable
                project.save()
            break
        except IntegrityError:
            if not auto_slug or attempt == SLUG_TRIES - 1:
                raise ValidationError({"slug": "A project with this address was just created; "
                                               "try again."}) from None
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


def _known_to(user, added_by) -> bool:
    """Whether ``added_by`` may already know the account: it shares a project with them."""
    if added_by is None or added_by.is_superuser:
        return True
    mine = Membership.objects.filter(user=added_by).values("project_id")
    return Membership.objects.filter(user=user, project_id__in=mine).exists()


@transaction.atomic
def add_member(project: Project, *, username: str, role: str, password: str = "",
               email: str = "", added_by=None) -> Membership:
    """Add an account by username, creating it when a password is given.

    The answer never says whether a username exists outside the admin's projects
    (docs/security.md "Accounts and sessions"): with a password, an existing account is
    added as it is (its own password and email unchanged) and a new one is created, with
    the same reply; without one, only members of the admin's own projects can be added,
    and any other name gets the same "give a password" answer as a name nobody has.
    """
    _check_role(role)
    username = accounts.clean_username(username)
    user = accounts.find_user(username)
    if password:
        # Checked whether or not the account exists, so the reply cannot tell them apart.
        validate_password(password, get_user_model()(username=username, email=email))
        if user is None:
            user = _create_user(username, password, email)
    elif user is None or not _known_to(user, added_by):
        raise ValidationError(
            f"No member of your projects is called '{username}'; give a password to add or "
            "create the account.")
    membership, created = Membership.objects.get_or_create(
        project=project, user=user, defaults={"role": role})
    if not created:
        raise ValidationError(f"'{user.username}' is already a member ({membership.role}).")
    return membership


def _create_user(username: str, password: str, email: str):
    """A new account; when the same name is created at the same moment, the one made."""
    User = get_user_model()
    user = User(username=username, email=email)
    user.full_clean(exclude=["password"])
    user.set_password(password)
    try:
        with transaction.atomic():  # a savepoint: losing the race leaves the outer one usable
            user.save()
    except (IntegrityError, ValidationError):
        existing = accounts.find_user(username)  # made by the other request meanwhile
        if existing is None:
            raise
        return existing
    return user


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
    """Removes access at once: the member's open tasks go back to the queue (marked expired,
    their ratings kept); submitted assignments and ratings stay."""
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _last_admin_guard(membership, None)
    open_tasks = Assignment.objects.select_for_update().filter(
        project_id=membership.project_id, annotator_id=membership.user_id,
        status=Assignment.Status.ACTIVE)
    released = list(open_tasks.values_list("solution_id", flat=True))
    open_tasks.update(status=Assignment.Status.EXPIRED, finished_at=timezone.now())
    membership.delete()
    if released:
        project = membership.project
        transaction.on_commit(lambda: slot_freed(project, released))
