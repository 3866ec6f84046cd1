"""The scaling curve of a PRM's test-time search: the points the chart on its page draws."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from search.selectors import scaling_points, search_runs
from training.selectors import models_for

from .common import PERMISSIONS, P, int_param


class ScalingPointSerializer(serializers.Serializer):
    strategy = serializers.CharField()
    budget = serializers.IntegerField()
    problems = serializers.IntegerField()
    correct = serializers.IntegerField()
    accuracy = serializers.FloatField()
    generated_tokens = serializers.FloatField(help_text="Mean per problem.")
    prm_tokens = serializers.FloatField(help_text="Mean per problem.")


class ScalingSerializer(serializers.Serializer):
    prm_model = serializers.IntegerField()
    run = serializers.IntegerField(allow_null=True, help_text="The search Run; the latest by default.")
    runs = serializers.ListField(child=serializers.IntegerField(), help_text="Every search Run with results.")
    points = ScalingPointSerializer(many=True)


class ModelScaling(APIView):
    """Accuracy against budget per strategy, from a search Run of this model."""

    permission_classes = PERMISSIONS

    @extend_schema(parameters=[P("run", OpenApiTypes.INT)], responses=ScalingSerializer)
    def get(self, request, pk: int):
        model = models_for(request.user).filter(pk=pk).first()
        if model is None:
            raise NotFound("No such model.")
        runs = search_runs(model)
        run = int_param(request, "run")
        if run and run not in runs:
            raise NotFound("No search run with that id for this model.")
        data = scaling_points(model, run or None)
        return Response(ScalingSerializer({**data, "runs": runs}).data)
