"""Bulk ingest endpoints (project admins, write scope)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.selectors.projects import visible_projects

from ..ingest import ingest_problems, ingest_solutions
from ..permissions import ADMIN_ROLES, require_role
from ..serializers import (
    BulkProblemsSerializer,
    BulkResultSerializer,
    BulkSolutionsSerializer,
    ProblemInSerializer,
    SolutionInSerializer,
)
from .common import PERMISSIONS


def _run(request, envelope_cls, item_cls, ingest):
    envelope = envelope_cls(data=request.data)
    envelope.is_valid(raise_exception=True)
    project = visible_projects(request.user).filter(pk=envelope.validated_data["project"]).first()
    if project is None:
        raise NotFound("No such project.")
    require_role(project, request.user, ADMIN_ROLES, "ingest data")
    valid, results = [], {}
    for index, raw in enumerate(envelope.validated_data["items"]):
        item = item_cls(data=raw)
        if item.is_valid():
            valid.append((index, item.validated_data))
        else:
            results[index] = {"index": index, "status": "error", "id": None,
                              "errors": item.errors}
    for (index, _), result in zip(valid, ingest(project, [v for _, v in valid])):
        result["index"] = index
        results[index] = result
    ordered = [results[i] for i in sorted(results)]
    counts = {s: sum(1 for r in ordered if r["status"] == s) for s in ("created", "existing")}
    body = {"created": counts["created"], "existing": counts["existing"],
            "errors": len(ordered) - counts["created"] - counts["existing"], "results": ordered}
    code = status.HTTP_201_CREATED if counts["created"] else status.HTTP_200_OK
    return Response(body, status=code)


class ProblemBulkCreate(APIView):
    """Create problems; idempotent by external_id; per-row results and errors."""

    permission_classes = PERMISSIONS

    @extend_schema(request=BulkProblemsSerializer, responses={200: BulkResultSerializer,
                                                              201: BulkResultSerializer})
    def post(self, request):
        return _run(request, BulkProblemsSerializer, ProblemInSerializer, ingest_problems)


class SolutionBulkCreate(APIView):
    """Create solutions as step paths; idempotent by external_id (and by identical steps)."""

    permission_classes = PERMISSIONS

    @extend_schema(request=BulkSolutionsSerializer, responses={200: BulkResultSerializer,
                                                               201: BulkResultSerializer})
    def post(self, request):
        return _run(request, BulkSolutionsSerializer, SolutionInSerializer, ingest_solutions)
