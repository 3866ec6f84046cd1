"""The label-sources report of a project (docs/labels.md): reviewers and admins only, since it
shows machine labels and every annotator's agreement."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.selectors.projects import visible_projects
from quality import report_runs
from quality.label_report import build_report
from quality.labels import UnknownSource

from ..permissions import EXPORT_ROLES, require_role
from ..serializers import RunSerializer
from .common import PERMISSIONS, P

Ratio = lambda: serializers.FloatField(allow_null=True)  # noqa: E731


class StatsSerializer(serializers.Serializer):
    reference_steps = serializers.IntegerField()
    compared = serializers.IntegerField()
    agree = serializers.IntegerField()
    accuracy = Ratio()
    agreement_on_reference = Ratio()
    kappa = Ratio()
    first_error_match = serializers.FloatField(allow_null=True, required=False)


class SourceRowSerializer(StatsSerializer):
    source = serializers.CharField()
    title = serializers.CharField()
    family = serializers.CharField()
    version = serializers.DictField()
    labeled = serializers.IntegerField()
    coverage = Ratio()
    unparsed = serializers.IntegerField()
    bad = serializers.IntegerField()
    okay = serializers.IntegerField()
    good = serializers.IntegerField()


class AvailableSerializer(serializers.Serializer):
    spec = serializers.CharField()
    family = serializers.CharField()
    title = serializers.CharField()
    version = serializers.DictField()


class PositionSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="0 is the first step.")
    reference_steps = serializers.IntegerField()
    sources = serializers.DictField(child=StatsSerializer())


class FirstErrorSerializer(serializers.Serializer):
    first_error = serializers.IntegerField(allow_null=True, help_text="null: no -1 in the reference.")
    solutions = serializers.IntegerField()
    sources = serializers.DictField(child=StatsSerializer())


class PairSerializer(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField()
    compared = serializers.IntegerField()
    agree = serializers.IntegerField()
    observed = Ratio()
    kappa = Ratio()


class ConsensusSerializer(serializers.Serializer):
    rule = serializers.CharField()
    sources = serializers.ListField(child=serializers.CharField())
    candidates = serializers.IntegerField()
    kept = serializers.IntegerField()
    kept_fraction = Ratio()
    kept_with_reference = serializers.IntegerField()
    kept_agree = serializers.IntegerField()
    kept_accuracy = Ratio()


class AnchoringStatsSerializer(serializers.Serializer):
    shown_steps = serializers.IntegerField(help_text="Steps rated in tasks that showed the source, "
                                           "where it has a parsed verdict.")
    shown_agree = serializers.IntegerField()
    blind_steps = serializers.IntegerField(help_text="The same, in tasks that did not show it.")
    blind_agree = serializers.IntegerField()
    shown_wrong = serializers.IntegerField(help_text="Shown steps whose verdict the reference "
                                           "calls wrong.")
    shown_wrong_accepted = serializers.IntegerField()
    blind_wrong = serializers.IntegerField()
    blind_wrong_accepted = serializers.IntegerField()
    shown_verdicts = serializers.IntegerField(help_text="Ratings that record the verdict shown.")
    shown_changed = serializers.IntegerField()
    shown_agreement = Ratio()
    blind_agreement = Ratio()
    agreement_gap = Ratio()
    shown_rubber_stamp = Ratio()
    blind_rubber_stamp = Ratio()
    changed_share = Ratio()


class AnchoringRowSerializer(AnchoringStatsSerializer):
    annotator = serializers.CharField()


class AnchoringSerializer(serializers.Serializer):
    source = serializers.CharField(allow_null=True, help_text="The machine source measured.")
    reference = serializers.CharField(allow_null=True)
    message = serializers.CharField(allow_blank=True)
    overall = AnchoringStatsSerializer(allow_null=True)
    annotators = AnchoringRowSerializer(many=True)


class LabelSourcesSerializer(serializers.Serializer):
    reference = serializers.CharField(allow_null=True)
    solutions = serializers.IntegerField()
    steps = serializers.IntegerField()
    available = AvailableSerializer(many=True)
    sources = SourceRowSerializer(many=True)
    positions = PositionSerializer(many=True)
    first_error = FirstErrorSerializer(many=True)
    pairs = PairSerializer(many=True)
    consensus = ConsensusSerializer(allow_null=True)
    anchoring = AnchoringSerializer(
        allow_null=True, required=False,
        help_text="Agreement with a machine source on tasks that showed it against blind ones "
                  "(absent from a report stored before it existed).")


PARAMS = [
    P("reference", OpenApiTypes.STR, "A source spec (docs/labels.md); default gold, else "
      "human:consensus."),
    OpenApiParameter("consensus", OpenApiTypes.STR, OpenApiParameter.QUERY, many=True,
                     description="Sources of the agree rule (repeat the parameter)."),
    P("anchoring", OpenApiTypes.STR, "The machine source whose anchoring is measured; default "
      "the project's verify source."),
]


class LabelSources(APIView):
    """Per label source: coverage, distribution, accuracy and kappa against a reference; per
    step position and first-error index; pairwise kappa; the consensus rule "agree"."""

    permission_classes = PERMISSIONS

    def _project(self, request, pk: int):
        project = visible_projects(request.user).filter(pk=pk).first()
        if project is None:
            raise NotFound("No such project.")
        require_role(project, request.user, EXPORT_ROLES, "read its label sources")
        return project

    def _params(self, request) -> dict:
        try:
            return report_runs.report_params(request.query_params.get("reference") or None,
                                             request.query_params.getlist("consensus") or None,
                                             request.query_params.get("anchoring") or None)
        except UnknownSource as exc:
            raise ValidationError({"source": [str(exc)]}) from None

    def _run(self, request, run):
        return Response(RunSerializer(run, context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(parameters=PARAMS, responses={200: LabelSourcesSerializer, 202: RunSerializer})
    def get(self, request, pk: int):
        """The report; for a project of more than a few thousand solutions, the newest one a
        ``label_report`` Run stored (200), or 202 with the Run computing it (started when
        none has been)."""
        project = self._project(request, pk)
        params = self._params(request)
        if report_runs.is_precomputed(project):
            stored = report_runs.stored_report(project, params)
            if stored.report is not None:
                return Response(LabelSourcesSerializer(stored.report).data)
            return self._run(request, stored.pending
                             or report_runs.recompute(project, request.user, params))
        try:
            report = build_report(project, **params)
        except UnknownSource as exc:
            raise ValidationError({"source": [str(exc)]}) from None
        return Response(LabelSourcesSerializer(report).data)

    @extend_schema(parameters=PARAMS, request=None, responses={202: RunSerializer})
    def post(self, request, pk: int):
        """Recompute: start a ``label_report`` Run for the reference and rule (or the one
        already queued or running for them); 202 with the Run."""
        project = self._project(request, pk)
        return self._run(request, report_runs.recompute(project, request.user,
                                                        self._params(request)))
