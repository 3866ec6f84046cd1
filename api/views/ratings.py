"""Incremental pull of ratings: "everything that changed since cursor X".

Ordered by the indexed (updated, id). The cursor is the position of the last row
returned; passing it back as ``since`` gives what was created or changed after it, so a
trainer can poll forever without missing or repeating a change. Rows newer than a short
settle window are held back, because a transaction that commits late may carry an
``updated`` older than rows already seen.
"""

import base64
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Assignment, StepRating

from ..serializers import RatingPageSerializer, RatingSerializer
from .common import PERMISSIONS, P, int_param
from .resources import label_scope

MAX_LIMIT = 5000


def encode_cursor(updated, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{updated.isoformat()}|{pk}".encode()).decode()


def decode_cursor(raw: str):
    try:
        when, pk = base64.urlsafe_b64decode(raw.encode("ascii")).decode().split("|")
        parsed = parse_datetime(when)
        pk = int(pk)
    except (ValueError, UnicodeError, TypeError):
        raise ValidationError({"since": "Not a cursor returned by this endpoint."})
    if parsed is None or pk < 0:
        raise ValidationError({"since": "Not a cursor returned by this endpoint."})
    return parsed, pk


class RatingChanges(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(parameters=[
        P("project", description="Limit to one project."),
        P("since", OpenApiTypes.STR, description="A cursor from a previous response."),
        P("limit", description=f"Rows per page (at most {MAX_LIMIT}).")],
        responses=RatingPageSerializer)
    def get(self, request):
        limit = min(int_param(request, "limit") or 1000, MAX_LIMIT)
        qs = StepRating.objects.filter(
            label_scope(request.user, "assignment__"),
            assignment__status=Assignment.Status.SUBMITTED,
        ).select_related("assignment")
        project = int_param(request, "project")
        if project:
            qs = qs.filter(assignment__project_id=project)
        since = request.query_params.get("since")
        cursor = since or ""
        if since:
            when, pk = decode_cursor(since)
            qs = qs.filter(Q(updated__gt=when) | Q(updated=when, id__gt=pk))
        settle = getattr(settings, "STEPWISE_RATINGS_SETTLE_SECONDS", 2)
        if settle:
            qs = qs.filter(updated__lt=timezone.now() - timedelta(seconds=settle))
        rows = list(qs.order_by("updated", "id")[:limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
        if rows:
            cursor = encode_cursor(rows[-1].updated, rows[-1].pk)
        return Response({"results": RatingSerializer(rows, many=True).data, "cursor": cursor,
                         "has_more": has_more})
