"""Runs: list and read progress (admins and reviewers of the project, or the starter);
start (project admins, write scope); cancel."""

from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.selectors.projects import visible_projects
from workers.models import Run

from ..permissions import ADMIN_ROLES, EXPORT_ROLES, require_role
from ..runs import STARTABLE_KINDS, start_api_run
from ..serializers import RunCreateSerializer, RunSerializer
from .common import CREATED_PARAMS, PERMISSIONS, CreatedCursorPagination, P, int_param, project_ids_with_role


def run_scope(user) -> Q:
    return Q(project_id__in=project_ids_with_role(user, EXPORT_ROLES)) | Q(created_by=user)


@extend_schema_view(get=extend_schema(parameters=[
    P("project"), P("kind", OpenApiTypes.STR),
    P("status", OpenApiTypes.STR, enum=[c.value for c in Run.Status]), *CREATED_PARAMS]))
class RunListCreate(generics.ListAPIView):
    permission_classes = PERMISSIONS
    serializer_class = RunSerializer
    pagination_class = CreatedCursorPagination

    def get_queryset(self):
        qs = Run.objects.filter(run_scope(self.request.user))
        project = int_param(self.request, "project")
        if project:
            qs = qs.filter(project_id=project)
        for name in ("kind", "status"):
            value = self.request.query_params.get(name)
            if value:
                qs = qs.filter(**{name: value})
        return qs

    @extend_schema(request=RunCreateSerializer, responses={201: RunSerializer})
    def post(self, request):
        data = RunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kind, params = data.validated_data["kind"], data.validated_data["params"]
        if kind not in STARTABLE_KINDS:
            raise ValidationError({"kind": f"Unknown run kind '{kind}'. Startable: "
                                           f"{', '.join(STARTABLE_KINDS)}."})
        project = visible_projects(request.user).filter(pk=data.validated_data["project"]).first()
        if project is None:
            raise NotFound("No such project.")
        if kind == "export":
            # An export run always belongs to a snapshot; the export endpoint makes both.
            from .exports import create_export

            snapshot = create_export(request, {"spec": {**params, "projects": [project.pk]}})
            return Response(RunSerializer(snapshot.run).data, status=status.HTTP_201_CREATED)
        require_role(project, request.user, ADMIN_ROLES, f"start {kind} runs")
        run = start_api_run(kind, project, params, request.user)
        data = RunSerializer(run).data
        if getattr(run, "warnings", None):  # e.g. train_prm with no validation split
            data["warnings"] = run.warnings
        return Response(data, status=status.HTTP_201_CREATED)


class RunDetail(generics.RetrieveAPIView):
    permission_classes = PERMISSIONS
    serializer_class = RunSerializer

    def get_queryset(self):
        return Run.objects.filter(run_scope(self.request.user))


class RunCancel(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(request=None, responses=RunSerializer)
    def post(self, request, pk: int):
        from workers.runs import cancel_run

        run = Run.objects.filter(run_scope(request.user), pk=pk).first()
        if run is None:
            raise NotFound("No such run.")
        if run.created_by_id != request.user.pk and (
                run.project is None or run.project_id not in project_ids_with_role(
                    request.user, ADMIN_ROLES)):
            raise PermissionDenied("Only the run's starter or a project admin may cancel it.")
        return Response(RunSerializer(cancel_run(run)).data)
