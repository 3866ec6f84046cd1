"""Read-side queries about projects, always scoped to what a user may see."""

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from annotate.models import Assignment, Membership, Project


def visible_projects(user) -> QuerySet[Project]:
    """Projects the user is a member of (superusers see all)."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def role_in(project: Project, user) -> str | None:
    """The user's role in the project, or None. Superusers act as admins."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Membership.Role.ADMIN
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


def active_project_and_role(slug: str, user) -> tuple[Project | None, str | None]:
    """An active (not archived) project by slug and the user's role in it, in one query:
    the next-task request needs both. Same answers as ``role_in``."""
    qs = Project.objects.filter(slug=slug, archived_at__isnull=True)
    if not user.is_authenticated:
        return qs.first(), None
    if not user.is_superuser:
        qs = qs.annotate(_role=Subquery(
            Membership.objects.filter(project=OuterRef("pk"), user=user)
            .values("role")[:1]))
    found = list(qs[:1])
    if not found:
        return None, None
    project = found[0]
    return project, Membership.Role.ADMIN if user.is_superuser else project._role


def projects_with_progress(user) -> list[Project]:
    """Active projects of the user, annotated with solutions open to them and done by them."""
    projects = (
        visible_projects(user)
        .filter(archived_at__isnull=True)
        .annotate(total_solutions=Count("solutions", distinct=True))
        .order_by("name")
    )
    done = dict(
        Assignment.objects.filter(annotator=user, status=Assignment.Status.SUBMITTED,
                                  source=Assignment.Source.LABELING)
        .values_list("project")
        .annotate(n=Count("id"))
        .values_list("project", "n")
    )
    finished = dict(
        Assignment.objects.filter(
            Q(status=Assignment.Status.SUBMITTED) | Q(status=Assignment.Status.ACTIVE)
        )
        .values_list("project")
        .annotate(n=Count("id"))
        .values_list("project", "n")
    )
    held = set(
        Assignment.objects.filter(annotator=user, status=Assignment.Status.ACTIVE,
                                  lease_expires_at__gt=timezone.now())
        .values_list("project_id", flat=True)
    )
    result = []
    for project in projects:
        project.holds_task = project.pk in held
        project.done_count = done.get(project.pk, 0)
        capacity = project.total_solutions * project.overlap
        project.open_count = max(0, capacity - finished.get(project.pk, 0))
        result.append(project)
    return result
