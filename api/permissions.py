"""Permission rules of the API.

* A read-scoped token may only use safe methods; a write token and a browser session
  may do whatever the user's project role allows.
* Project roles: any member reads the project, its problems and solutions; annotators
  see only their own assignments and ratings; admins and reviewers see all of a project's
  labels and may export; only admins ingest data and start runs.
"""

from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied

from .models import APIToken

EXPORT_ROLES = ("admin", "reviewer")
ADMIN_ROLES = ("admin",)


class TokenScope(permissions.BasePermission):
    message = "This token is read-only."

    def has_permission(self, request, view):
        token = request.auth
        if isinstance(token, APIToken) and token.scope != APIToken.Scope.WRITE:
            return request.method in permissions.SAFE_METHODS
        return True


def require_role(project, user, roles, action: str) -> str:
    """Raise 403 unless the user has one of ``roles`` in the project."""
    from annotate.selectors.projects import role_in

    role = role_in(project, user)
    if role not in roles:
        raise PermissionDenied(
            f"You need the {' or '.join(roles)} role in project {project.pk} to {action}."
        )
    return role
