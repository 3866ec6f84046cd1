"""Certifications of a project's machine label sources (docs/labels.md, "Certification"):
reviewers and admins read them, admins start them."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.selectors.projects import visible_projects
from quality import certification as cert_service
from quality.certify_stats import METHODS

from ..permissions import ADMIN_ROLES, EXPORT_ROLES, require_role
from .common import PERMISSIONS


class ContractSerializer(serializers.Serializer):
    max_error = serializers.FloatField()
    confidence = serializers.FloatField()
    method = serializers.ChoiceField(choices=METHODS)
    anticipated_error = serializers.FloatField()


class CertificateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    source = serializers.CharField()
    status = serializers.ChoiceField(choices=["sampling", "certified", "refused", "void"])
    why_void = serializers.CharField(help_text="Why a void certification no longer holds.")
    contract = ContractSerializer()
    sample_size = serializers.IntegerField()
    population = serializers.IntegerField(help_text="Steps the source labels with a parsed label.")
    seed = serializers.IntegerField()
    labeled = serializers.IntegerField(help_text="Sampled steps with a human label so far.")
    errors = serializers.IntegerField(allow_null=True)
    error_rate = serializers.FloatField(allow_null=True)
    upper = serializers.FloatField(allow_null=True, help_text="One-sided upper bound at the "
                                   "contract's confidence; certified when at most max_error.")
    interval = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    source_version = serializers.DictField()
    started_by = serializers.CharField(allow_null=True)
    created = serializers.DateTimeField(allow_null=True)
    issued = serializers.DateTimeField(allow_null=True)


class StartSerializer(serializers.Serializer):
    source = serializers.CharField(max_length=200)
    max_error = serializers.FloatField()
    confidence = serializers.FloatField()
    method = serializers.ChoiceField(choices=METHODS, default="exact")
    anticipated_error = serializers.FloatField(default=0.0)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**62)


class Certifications(APIView):
    """GET: the project's certifications, read only (a sample's verdict is decided when the
    task that finishes it is submitted; void ones say why). POST (admins): declare a contract and draw its sample."""

    permission_classes = PERMISSIONS

    def _project(self, request, pk: int):
        project = visible_projects(request.user).filter(pk=pk).first()
        if project is None:
            raise NotFound("No such project.")
        return project

    @extend_schema(responses=CertificateSerializer(many=True))
    def get(self, request, pk: int):
        project = self._project(request, pk)
        require_role(project, request.user, EXPORT_ROLES, "read its certifications")
        return Response([cert_service.certificate(c) for c in cert_service.with_state(project)])

    @extend_schema(request=StartSerializer, responses={201: CertificateSerializer})
    def post(self, request, pk: int):
        project = self._project(request, pk)
        require_role(project, request.user, ADMIN_ROLES, "certify its label sources")
        given = StartSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            cert = cert_service.start_certification(project, request.user, **given.validated_data)
        except cert_service.CertificationError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from None
        return Response(cert_service.certificate(cert), status=status.HTTP_201_CREATED)
