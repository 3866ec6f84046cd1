"""Who sees what: gold status, reference solutions and machine scores by role.

Annotators never see gold status, reference solutions or whether a task is a quality
check (seeing them would let them game screening and gold checks). Machine scores
(PRM scores, Monte Carlo hints) follow the project's ``show_hints`` setting. Reviewers,
admins and superusers see everything. Each annotator sees only their own ratings
(``api.views.resources.label_scope``).
"""

from annotate.models import Membership, Project

STAFF_ROLES = (Membership.Role.ADMIN, Membership.Role.REVIEWER)


def annotator_project_ids(user) -> set[int]:
    """Projects where the user is only an annotator: hidden fields stay hidden there."""
    if not user.is_authenticated or user.is_superuser:
        return set()
    return set(Membership.objects.filter(user=user, role=Membership.Role.ANNOTATOR)
               .values_list("project_id", flat=True))


def staff_project_ids(user) -> set[int]:
    """Projects where the user reviews or administers (every project for a superuser)."""
    if user.is_superuser:
        return set(Project.objects.values_list("pk", flat=True))
    return set(Membership.objects.filter(user=user, role__in=STAFF_ROLES)
               .values_list("project_id", flat=True))


def machine_scores_hidden(project: Project, role: str | None) -> bool:
    """PRM scores and hints are for staff, and for annotators where the project shows hints."""
    return role == Membership.Role.ANNOTATOR and not project.show_hints
