"""Teaches drf-spectacular about the token authentication (a bearer scheme)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class APITokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.APITokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "An API token: `Authorization: Bearer sw_...`."}


def _choices():
    from annotate.models import Assignment, StepNode

    return StepNode.Author.choices, Assignment.Source.choices


# Named choice sets for ENUM_NAME_OVERRIDES (several models share "source" field names).
ORIGIN_CHOICES, ASSIGNMENT_SOURCE_CHOICES = _choices()
