"""Long-trace ingest: ``POST /api/traces/bulk/`` (project admins, write scope).

The items are records of the ``trace`` or ``deltabench`` import format, written as the file
import writes them (one batch of the bulk importer per 1,000 items; a refused record is
reported with its reason and writes nothing); a record already imported is ``existing``.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.selectors.projects import visible_projects

from ..permissions import ADMIN_ROLES, require_role
from .common import PERMISSIONS

FORMATS = ("trace", "deltabench")


class TraceBulkSerializer(serializers.Serializer):
    project = serializers.IntegerField(min_value=1)
    format = serializers.ChoiceField(choices=FORMATS)
    options = serializers.DictField(required=False, default=dict,
                                    help_text="trace: field_map, segmentation (docs/importing.md).")
    items = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=1000)


class TraceResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = serializers.ListField(child=serializers.DictField())


class TraceBulkCreate(APIView):
    """Import long traces (a <think> text or a reasoning field) or DeltaBench records."""

    permission_classes = PERMISSIONS

    @extend_schema(request=TraceBulkSerializer, responses={200: TraceResultSerializer,
                                                           201: TraceResultSerializer})
    def post(self, request):
        from annotate.services.imports import check_options
        from annotate.services.imports.files import PLANNERS
        from annotate.services.imports.rows import run_plans

        envelope = TraceBulkSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        data = envelope.validated_data
        project = visible_projects(request.user).filter(pk=data["project"]).first()
        if project is None:
            raise NotFound("No such project.")
        require_role(project, request.user, ADMIN_ROLES, "ingest data")
        try:
            options = check_options(data["format"], data["options"])
            planner = PLANNERS[data["format"]]("api", **options)
        except ValueError as exc:
            raise ValidationError({"options": [str(exc)]}) from None
        report = run_plans(((k + 1, item) for k, item in enumerate(data["items"])), planner,
                           project=project, source_name="api", fmt=data["format"])
        rejected = dict(report.rejected)
        duplicate = set(report.duplicate_lines)
        results = []
        for k in range(len(data["items"])):
            if k + 1 in rejected:
                results.append({"index": k, "status": "error",
                                "errors": {"non_field_errors": [rejected[k + 1]]}})
            else:
                results.append({"index": k, "status": "existing" if k + 1 in duplicate
                                else "created", "errors": None})
        body = {"created": report.created, "existing": report.duplicates,
                "errors": len(report.rejected), "results": results}
        return Response(body, status=status.HTTP_201_CREATED if report.created else status.HTTP_200_OK)
