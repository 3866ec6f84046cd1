"""Shared pieces of the API views: scoping by membership, query-parameter parsing, paging."""

from __future__ import annotations

from datetime import UTC

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission, IsAuthenticated

from annotate.models import Membership, Project
from annotate.selectors.projects import visible_projects

from ..parsers import nul_field
from ..permissions import TokenScope


class CreatedCursorPagination(CursorPagination):
    """Cursor paging on the indexed (created, id) order: stable under inserts, O(page)."""

    ordering = ("created", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    bad_cursor = "Give a cursor from a page's next or previous link."

    def decode_cursor(self, request):
        # DRF answers a cursor it cannot decode with a 404, and passes a decodable one's
        # position to the query unchecked: a bad timestamp there was a 500.
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": self.bad_cursor})
        if cursor is not None and cursor.position is not None:
            try:
                when = parse_datetime(cursor.position)
                if when is not None and when.tzinfo is not None:
                    when.astimezone(UTC)  # overflows for year 1 east of UTC
            except (ValueError, OverflowError):
                when = None
            if when is None:
                raise ValidationError({"cursor": self.bad_cursor})
        return cursor


class NoNulBytes(BasePermission):
    """Every query parameter and body field of the API passes here first: a NUL byte is a
    400 naming the field, where PostgreSQL would refuse it when it is stored or filtered
    on (a 500)."""

    def has_permission(self, request, view):
        for data in (request.query_params, request.data):
            name = nul_field(data)
            if name is not None:
                raise ValidationError({name: f"'{name}' contains a NUL byte."})
        return True


PERMISSIONS = [IsAuthenticated, TokenScope, NoNulBytes]


def project_ids_with_role(user, roles) -> list[int]:
    if user.is_superuser:
        return list(Project.objects.values_list("pk", flat=True))
    return list(Membership.objects.filter(user=user, role__in=roles)
                .values_list("project_id", flat=True))


def visible_project_ids(user):
    return visible_projects(user).values("pk")


def int_param(request, name: str, *, minimum: int = 1) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: "Give an integer."})
    if value < minimum or value > 2**62:
        raise ValidationError({name: f"Give an integer of at least {minimum}."})
    return value


def datetime_param(request, name: str):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    from exports.spec import to_utc

    value = to_utc(raw)
    if value is None:
        raise ValidationError({name: "Give an ISO 8601 date-time."})
    return value


def filter_created(queryset, request):
    after = datetime_param(request, "created_after")
    before = datetime_param(request, "created_before")
    if after:
        queryset = queryset.filter(created__gte=after)
    if before:
        queryset = queryset.filter(created__lt=before)
    return queryset


def P(name: str, type_=OpenApiTypes.INT, description: str = "", **kw) -> OpenApiParameter:
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, description=description, **kw)


CREATED_PARAMS = [P("created_after", OpenApiTypes.DATETIME), P("created_before",
                                                              OpenApiTypes.DATETIME)]
