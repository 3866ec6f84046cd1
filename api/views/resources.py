"""Read endpoints: projects, problems, solutions with their steps, trees, assignments."""

from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from annotate.models import Assignment, Membership, Problem, Solution, StepNode
from annotate.selectors.projects import visible_projects
from annotate.selectors.visibility import annotator_project_ids, staff_project_ids

from ..permissions import EXPORT_ROLES
from ..serializers import (
    AssignmentSerializer,
    ProblemSerializer,
    ProjectSerializer,
    SolutionDetailSerializer,
    SolutionSerializer,
    StepSerializer,
)
from .common import (
    CREATED_PARAMS,
    PERMISSIONS,
    CreatedCursorPagination,
    P,
    filter_created,
    int_param,
    project_ids_with_role,
    visible_project_ids,
)


class RoleContext:
    """Tells the serializers which projects the user only annotates (fields hidden there)."""

    def get_serializer_context(self):
        ctx = super().get_serializer_context()
        ctx["annotator_projects"] = annotator_project_ids(self.request.user)
        return ctx


class _ProjectViewMixin:
    """Visible projects, serialized with the user's role in each."""

    permission_classes = PERMISSIONS
    serializer_class = ProjectSerializer

    def get_queryset(self):
        return visible_projects(self.request.user).order_by("id")

    def get_serializer_context(self):
        ctx = super().get_serializer_context()
        user = self.request.user
        ctx["roles"] = dict(Membership.objects.filter(user=user).values_list("project_id", "role"))
        return ctx


class ProjectList(_ProjectViewMixin, generics.ListAPIView):
    pagination_class = None


class ProjectDetail(_ProjectViewMixin, generics.RetrieveAPIView):
    pass


@extend_schema_view(get=extend_schema(parameters=[
    P("project"), P("external_id", OpenApiTypes.STR), P("subject", OpenApiTypes.STR),
    *CREATED_PARAMS]))
class ProblemList(RoleContext, generics.ListAPIView):
    permission_classes = PERMISSIONS
    serializer_class = ProblemSerializer
    pagination_class = CreatedCursorPagination

    def get_queryset(self):
        qs = Problem.objects.filter(project__in=visible_project_ids(self.request.user))
        project = int_param(self.request, "project")
        if project:
            qs = qs.filter(project_id=project)
        for name in ("external_id", "subject"):
            value = self.request.query_params.get(name)
            if value:
                qs = qs.filter(**{name: value})
        return filter_created(qs, self.request)


class ProblemDetail(RoleContext, generics.RetrieveAPIView):
    permission_classes = PERMISSIONS
    serializer_class = ProblemSerializer

    def get_queryset(self):
        return Problem.objects.filter(project__in=visible_project_ids(self.request.user))


class ProblemTree(generics.RetrieveAPIView):
    """Every step node of the problem: siblings are alternative candidates at a position."""

    permission_classes = PERMISSIONS
    serializer_class = StepSerializer

    def get_queryset(self):
        return Problem.objects.filter(project__in=visible_project_ids(self.request.user))

    @extend_schema(responses=StepSerializer(many=True))
    def get(self, request, *args, **kwargs):
        problem = self.get_object()
        nodes = StepNode.objects.filter(problem=problem).order_by("depth", "id")
        return Response(StepSerializer(nodes, many=True).data)


SOLUTION_PARAMS = [P("project"), P("problem"), P("external_id", OpenApiTypes.STR),
                   P("is_gold", OpenApiTypes.BOOL), *CREATED_PARAMS]


@extend_schema_view(get=extend_schema(parameters=SOLUTION_PARAMS))
class SolutionList(RoleContext, generics.ListAPIView):
    permission_classes = PERMISSIONS
    serializer_class = SolutionSerializer
    pagination_class = CreatedCursorPagination

    def get_queryset(self):
        qs = Solution.objects.filter(project__in=visible_project_ids(self.request.user))
        for name in ("project", "problem"):
            value = int_param(self.request, name)
            if value:
                qs = qs.filter(**{f"{name}_id": value})
        ext = self.request.query_params.get("external_id")
        if ext:
            qs = staff_only(qs, self.request.user, "external_id").filter(external_id=ext)
        gold = self.request.query_params.get("is_gold")
        if gold not in (None, ""):
            if gold not in ("true", "false"):
                raise ValidationError({"is_gold": "Give true or false."})
            qs = staff_only(qs, self.request.user, "is_gold").filter(is_gold=gold == "true")
        return filter_created(qs, self.request)


def staff_only(qs, user, name: str):
    """A filter on a field hidden from annotators is refused to them (a 403, never silently
    ignored, so a script cannot mistake an unfiltered list for the filtered one) and limited
    to the projects the user reviews or administers."""
    staff = staff_project_ids(user)
    if not staff:
        raise PermissionDenied(f"Filtering on {name} needs the reviewer or admin role.")
    return qs.filter(project_id__in=staff)


class SolutionDetail(RoleContext, generics.RetrieveAPIView):
    """A solution with its steps, root first."""

    permission_classes = PERMISSIONS
    serializer_class = SolutionDetailSerializer

    def get_queryset(self):
        return Solution.objects.filter(project__in=visible_project_ids(self.request.user))


def label_scope(user, prefix: str = "") -> Q:
    """Admins and reviewers see a project's labels; annotators see only their own."""
    return Q(**{f"{prefix}project_id__in": project_ids_with_role(user, EXPORT_ROLES)}) | Q(
        **{f"{prefix}annotator": user, f"{prefix}project__in": visible_project_ids(user)})


@extend_schema_view(get=extend_schema(parameters=[
    P("project"), P("solution"), P("annotator"),
    P("status", OpenApiTypes.STR, enum=[c.value for c in Assignment.Status]),
    P("finish_reason", OpenApiTypes.STR, enum=[c.value for c in Assignment.FinishReason]),
    *CREATED_PARAMS]))
class AssignmentList(RoleContext, generics.ListAPIView):
    permission_classes = PERMISSIONS
    serializer_class = AssignmentSerializer
    pagination_class = CreatedCursorPagination

    def get_queryset(self):
        qs = Assignment.objects.filter(label_scope(self.request.user))
        for name in ("project", "solution", "annotator"):
            value = int_param(self.request, name)
            if value:
                qs = qs.filter(**{f"{name}_id": value})
        for name in ("status", "finish_reason"):
            value = self.request.query_params.get(name)
            if value:
                qs = qs.filter(**{name: value})
        return filter_created(qs, self.request)


class AssignmentDetail(RoleContext, generics.RetrieveAPIView):
    permission_classes = PERMISSIONS
    serializer_class = AssignmentSerializer

    def get_queryset(self):
        return Assignment.objects.filter(label_scope(self.request.user))
