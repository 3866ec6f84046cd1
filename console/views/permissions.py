"""The one permission check of the admin pages."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotate.models import Membership, Project
from annotate.selectors.projects import role_in

ADMIN = Membership.Role.ADMIN
REVIEWER = Membership.Role.REVIEWER
STAFF = (ADMIN, REVIEWER)


def project_role_required(*roles: str):
    """Resolve ``slug`` to a project the user has one of ``roles`` in, and pass it on.

    Anonymous users go to the login page; non-members get a 404 (a project's existence is
    not revealed); members with another role get a 403.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request, slug: str, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            project = Project.objects.filter(slug=slug).first()
            role = role_in(project, request.user) if project is not None else None
            if role is None:
                raise Http404("No such project.")
            if role not in roles:
                raise PermissionDenied("Your role in this project does not allow this page.")
            request.project_role = role
            return view(request, project, *args, **kwargs)

        wrapper.required_roles = roles
        return wrapper

    return decorator


def can_create_projects(user) -> bool:
    """Staff, superusers and admins of any project may start projects."""
    if not user.is_authenticated:
        return False
    return user.is_staff or user.is_superuser or Membership.objects.filter(
        user=user, role=ADMIN).exists()


def managed_roles(user) -> dict[int, str]:
    """project id -> role, for projects where the user is admin or reviewer."""
    if not user.is_authenticated:
        return {}
    if user.is_superuser:
        return {pk: ADMIN for pk in Project.objects.values_list("pk", flat=True)}
    return dict(Membership.objects.filter(user=user, role__in=STAFF)
                .values_list("project_id", "role"))
