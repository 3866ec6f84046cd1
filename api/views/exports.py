"""Exports: snapshots (create, list, read, download) and the streaming JSONL endpoint.
Only project admins and reviewers export; annotator tokens get 403."""

from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Project
from exports.models import ExportSnapshot
from exports.services import (
    ExportPermissionError,
    SplitError,
    check_export_access,
    create_snapshot,
    snapshot_file,
)
from exports.sinks import dumps
from exports.spec import FORMATS, GOLD_KEY_MODES, LABEL_MODES, SpecError, normalize_spec

from ..permissions import EXPORT_ROLES
from ..serializers import ExportCreateSerializer, ExportSerializer
from .common import PERMISSIONS, CreatedCursorPagination, P, project_ids_with_role

STREAM_MAX_ROWS = 1_000_000


def create_export(request, data: dict) -> ExportSnapshot:
    body = ExportCreateSerializer(data=data)
    body.is_valid(raise_exception=True)
    try:
        return create_snapshot(user=request.user, raw_spec=body.validated_data["spec"],
                               name=body.validated_data["name"])
    except SpecError as exc:
        raise ValidationError(exc.errors)
    except ExportPermissionError as exc:
        raise PermissionDenied(str(exc))


def export_scope(user):
    allowed = set(project_ids_with_role(user, EXPORT_ROLES))
    others = Project.objects.exclude(pk__in=allowed).values("pk")
    return ExportSnapshot.objects.filter(projects__in=allowed).exclude(
        projects__in=others).distinct()


class ExportListCreate(generics.ListAPIView):
    permission_classes = PERMISSIONS
    serializer_class = ExportSerializer
    pagination_class = CreatedCursorPagination

    def get_queryset(self):
        return export_scope(self.request.user).select_related("run")

    @extend_schema(request=ExportCreateSerializer, responses={201: ExportSerializer})
    def post(self, request):
        snapshot = create_export(request, request.data)
        return Response(ExportSerializer(snapshot).data, status=status.HTTP_201_CREATED)


class ExportDetail(generics.RetrieveAPIView):
    permission_classes = PERMISSIONS
    serializer_class = ExportSerializer

    def get_queryset(self):
        return export_scope(self.request.user).select_related("run")


class ExportDownload(APIView):
    permission_classes = PERMISSIONS

    """One split's file. Without ``?split`` a snapshot of one file gives that file; one with
    a train/test split answers 400 naming its splits, never one of them silently."""

    @extend_schema(parameters=[P("split", OpenApiTypes.STR, enum=["all", "train", "test"])],
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              400: OpenApiResponse(description="Name the split to download."),
                              409: OpenApiResponse(description="Not built yet.")})
    def get(self, request, pk: int):
        snapshot = export_scope(request.user).filter(pk=pk).first()
        if snapshot is None:
            raise NotFound("No such export.")
        if snapshot.status == ExportSnapshot.Status.FAILED:
            return Response({"detail": f"The export failed: {snapshot.error}"},
                            status=status.HTTP_409_CONFLICT)
        if snapshot.status != ExportSnapshot.Status.READY:
            return Response({"detail": f"The export is {snapshot.status}."},
                            status=status.HTTP_409_CONFLICT)
        try:
            path = snapshot_file(snapshot, request.query_params.get("split") or None)
        except SplitError as exc:
            if exc.asked is None:
                raise ValidationError({"split": (
                    f"This export has {len(exc.splits)} splits ({', '.join(exc.splits)}): "
                    "name one with ?split=.")}) from None
            raise NotFound(f"This export has no '{exc.asked}' split; it has "
                           f"{', '.join(exc.splits)}.") from None
        if not path.exists():
            raise NotFound("The export's file is missing.")
        return FileResponse(open(path, "rb"), as_attachment=True,
                            filename=f"{snapshot.name}-v{snapshot.version}-{path.name}")


def _spec_from_query(request) -> dict:
    q = request.query_params
    raw: dict = {"format": q.get("format", "trl")}
    try:
        raw["projects"] = [int(v) for v in q.getlist("project")]
    except ValueError:
        raise ValidationError({"project": "Give integer project ids."})
    for name in ("created_after", "created_before", "labels", "gold", "neutral", "label_type",
                 "split_seed", "gold_keys", "placeholder",
                 "critique_source", "critique_machine_source", "agree_with"):
        if q.get(name):
            raw[name] = q.get(name)
    if q.getlist("finish_reason"):
        raw["finish_reasons"] = q.getlist("finish_reason")
    for name in ("machine_labels", "expand_alternatives"):
        if q.get(name):
            raw[name] = q.get(name).lower() in ("1", "true", "yes")
    for name in ("min_agreement", "test_fraction"):
        if q.get(name):
            try:
                raw[name] = float(q.get(name))
            except ValueError:
                raise ValidationError({name: "Give a number."})
    return raw


class _JsonOnly(DefaultContentNegotiation):
    """``?format=`` names an export format here, not a DRF renderer."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ExportStream(APIView):
    """Stream rows as JSONL directly, for moderate sizes (no snapshot is kept)."""

    permission_classes = PERMISSIONS
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _JsonOnly

    @extend_schema(parameters=[
        P("format", OpenApiTypes.STR, enum=[f for f in FORMATS if f != "parquet"]),
        P("project", OpenApiTypes.INT, many=True, required=True),
        P("labels", OpenApiTypes.STR, enum=list(LABEL_MODES)),
        P("gold_keys", OpenApiTypes.STR, enum=list(GOLD_KEY_MODES)),
        P("placeholder", OpenApiTypes.STR),
        P("finish_reason", OpenApiTypes.STR, many=True,
          enum=["solution", "found_error", "give_up", "bad_problem"]),
        P("gold", OpenApiTypes.STR, enum=["include", "exclude", "only"]),
        P("min_agreement", OpenApiTypes.NUMBER), P("machine_labels", OpenApiTypes.BOOL),
        P("expand_alternatives", OpenApiTypes.BOOL),
        P("neutral", OpenApiTypes.STR, enum=["positive", "negative"]),
        P("label_type", OpenApiTypes.STR, enum=["hard", "soft"]),
        P("created_after", OpenApiTypes.DATETIME), P("created_before", OpenApiTypes.DATETIME),
        P("critique_source", OpenApiTypes.STR, enum=["human", "machine", "accepted_machine"]),
        P("critique_machine_source", OpenApiTypes.STR), P("agree_with", OpenApiTypes.STR),
        P("limit", OpenApiTypes.INT)],
        responses={(200, "application/jsonl"): OpenApiTypes.STR})
    def get(self, request):
        from exports.writers import iter_rows

        try:
            spec = normalize_spec(_spec_from_query(request))
            if spec["format"] == "parquet":
                raise SpecError({"format": "Parquet is not streamed; create a snapshot."})
            check_export_access(request.user, spec["projects"])
        except SpecError as exc:
            raise ValidationError(exc.errors)
        except ExportPermissionError as exc:
            raise PermissionDenied(str(exc))
        limit = request.query_params.get("limit") or str(STREAM_MAX_ROWS)
        if not limit.isdigit() or not 1 <= int(limit) <= STREAM_MAX_ROWS:
            raise ValidationError({"limit": f"An integer from 1 to {STREAM_MAX_ROWS}."})
        limit = int(limit)

        def lines():
            for n, (_split, row, _steps) in enumerate(iter_rows(spec)):
                if n >= limit:
                    return
                yield (dumps(row) + "\n").encode("utf-8")

        return StreamingHttpResponse(lines(), content_type="application/jsonl")
