"""Critiques of a task's steps (docs/api.md, "Critique API"): the task's annotator writes,
edits and deletes them while the task is active; reviewers and admins read them and
correct a submitted task's critique. Thin views over ``annotate.services.critiques`` and
``quality.critique_review``."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Assignment, Critique
from annotate.selectors.projects import role_in
from annotate.services import critiques as service
from annotate.services.labeling import LabelingError
from quality.critique_review import correct_critique

from ..permissions import EXPORT_ROLES
from .common import PERMISSIONS


class CritiqueSerializer(serializers.ModelSerializer):
    correction_text = serializers.CharField(source="correction.text", allow_null=True,
                                            default=None, read_only=True)

    class Meta:
        model = Critique
        fields = ["id", "assignment", "node", "text", "origin", "machine_source", "shown_text",
                  "correction", "correction_text", "annotator_text", "reviewed_by",
                  "reviewed_at", "created", "updated"]


Body = inline_serializer("CritiqueWrite", {
    "node": serializers.IntegerField(required=False, help_text="POST: the step's node id."),
    "id": serializers.IntegerField(required=False, help_text="PATCH/DELETE: the critique's id."),
    "text": serializers.CharField(required=False),
    "correction": serializers.CharField(required=False, allow_blank=True,
                                        help_text="The corrected step; \"\" removes it."),
    "shown_source": serializers.CharField(required=False,
                                          help_text="judge:<name> or imported:<name>"),
    "origin": serializers.ChoiceField(choices=["written", "accepted", "edited", "replaced"],
                                      required=False),
})


def _data(request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError({"non_field_errors": ["Send a JSON object."]})
    return request.data


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except LabelingError as exc:
        if exc.status == 404:
            raise NotFound(str(exc))
        if exc.status == 403:
            raise PermissionDenied(str(exc))
        err = ValidationError({"detail": str(exc)})
        err.status_code = exc.status
        raise err


class AssignmentCritiques(APIView):
    """GET: the task's critiques (its annotator, the project's reviewers and admins).
    POST ``{node, text, correction?, shown_source?, origin?}``, PATCH ``{id, text?,
    correction?, origin?}``, DELETE ``{id}``: the task's annotator, while it is active."""

    permission_classes = PERMISSIONS

    @extend_schema(responses=CritiqueSerializer(many=True))
    def get(self, request, pk: int):
        assignment = Assignment.objects.select_related("project").filter(pk=pk).first()
        if assignment is None or (assignment.annotator_id != request.user.pk
                                  and role_in(assignment.project, request.user) is None):
            raise NotFound("No such task.")
        if assignment.annotator_id != request.user.pk and \
                role_in(assignment.project, request.user) not in EXPORT_ROLES:
            raise PermissionDenied("Only the task's annotator and the project's reviewers and "
                                   "admins read its critiques.")
        rows = assignment.critiques.select_related("correction").order_by("id")
        return Response(CritiqueSerializer(rows, many=True).data)

    @extend_schema(request=Body, responses={201: CritiqueSerializer})
    def post(self, request, pk: int):
        data = _data(request)
        if data.get("node") in (None, ""):
            raise ValidationError({"node": ["Name the step: its node id."]})
        critique = _call(service.write, pk, request.user, node_id=data.get("node"),
                         text=data.get("text"), correction=data.get("correction"),
                         shown_source=data.get("shown_source"), origin=data.get("origin"))
        return Response(CritiqueSerializer(critique).data, status=201)

    @extend_schema(request=Body, responses=CritiqueSerializer)
    def patch(self, request, pk: int):
        data = _data(request)
        if data.get("id") in (None, ""):
            raise ValidationError({"id": ["Name the critique: its id."]})
        critique = _call(service.edit, pk, request.user, critique_id=data.get("id"),
                         text=data.get("text"), origin=data.get("origin"),
                         correction=data["correction"] if "correction" in data else ...)
        return Response(CritiqueSerializer(critique).data)

    @extend_schema(request=Body, responses={204: None})
    def delete(self, request, pk: int):
        data = _data(request)
        raw = data.get("id") if data.get("id") not in (None, "") else request.query_params.get("id")
        if raw in (None, ""):
            raise ValidationError({"id": ["Name the critique: its id."]})
        _call(service.delete, pk, request.user, critique_id=raw)
        return Response(status=204)


class CritiqueReview(APIView):
    """PATCH ``{text}``: a reviewer's or admin's correction of a submitted task's critique."""

    permission_classes = PERMISSIONS

    @extend_schema(request=inline_serializer("CritiqueCorrection", {
        "text": serializers.CharField()}), responses=CritiqueSerializer)
    def patch(self, request, pk: int):
        critique = Critique.objects.select_related("assignment__project").filter(pk=pk).first()
        role = role_in(critique.assignment.project, request.user) if critique else None
        if role is None:
            raise NotFound("No such critique.")
        if role not in EXPORT_ROLES:
            raise PermissionDenied("Only the project's reviewers and admins correct critiques.")
        try:
            critique = correct_critique(critique, request.user, _data(request).get("text"))
        except DjangoValidationError as exc:
            raise ValidationError({"detail": exc.messages[0]})
        return Response(CritiqueSerializer(critique).data)
