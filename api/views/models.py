"""Trained models (PRMs) of the training app: read by those who may see the project's
machine scores (``training.selectors.models_for``: reviewers and admins; annotators only
where the project shows hints)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers

from training.display import file_name, no_validation, public_card, public_source
from training.models import PrmModel
from training.selectors import models_for
from training.serving import serving_info

from .common import PERMISSIONS, CreatedCursorPagination, P, int_param


class TrainedModelSerializer(serializers.ModelSerializer):
    """File names only: no absolute server path (base, data file, card) leaves the server."""

    class Meta:
        model = PrmModel
        fields = ["id", "project", "name", "base_model", "status", "hyperparameters",
                  "data_source", "metrics", "model_card", "curve", "run", "created", "updated",
                  "warning"]

    warning = serializers.SerializerMethodField(
        help_text="Why the held-out metrics are (or will be) empty, e.g. no validation split.")

    def get_warning(self, model) -> str:
        return no_validation(model)

    def to_representation(self, model):
        data = super().to_representation(model)
        data["base_model"] = file_name(data["base_model"])
        data["data_source"] = public_source(data["data_source"])
        data["model_card"] = public_card(data["model_card"])
        return data


@extend_schema_view(get=extend_schema(parameters=[
    P("project"), P("status", OpenApiTypes.STR, enum=[c.value for c in PrmModel.Status])]))
class TrainedModelList(generics.ListAPIView):
    permission_classes = PERMISSIONS
    serializer_class = TrainedModelSerializer
    pagination_class = CreatedCursorPagination

    def get_queryset(self):
        qs = models_for(self.request.user)
        project = int_param(self.request, "project")
        if project:
            qs = qs.filter(project_id=project)
        value = self.request.query_params.get("status")
        if value:
            qs = qs.filter(status=value)
        return qs


class ServingSerializer(serializers.Serializer):
    backend = serializers.CharField(help_text="The deployment's scoring backend: transformers or vllm.")
    served_model_name = serializers.CharField(help_text="The name a vLLM scoring server serves it under.")
    vllm_serve = serializers.CharField(allow_null=True, help_text=(
        "The command that serves this PRM for the vllm scoring backend (its folder under "
        "$STEPWISE_MODELS_DIR); null where vLLM's pooling runner cannot serve it."))
    compose_env = serializers.DictField(child=serializers.CharField(), allow_null=True, help_text=(
        "The PRM_* values docker-compose's prm service serves it with (a model under MODELS_DIR)."))
    note = serializers.CharField(required=False)


class TrainedModelDetailSerializer(TrainedModelSerializer):
    class Meta(TrainedModelSerializer.Meta):
        fields = [*TrainedModelSerializer.Meta.fields, "serving"]

    serving = serializers.SerializerMethodField(
        help_text="How to serve a ready model with vLLM (docs/training.md, \"Serving a PRM\").")

    @extend_schema_field(ServingSerializer(allow_null=True))
    def get_serving(self, model) -> dict | None:
        if model.status != PrmModel.Status.READY:
            return None
        return serving_info(model)


class TrainedModelDetail(generics.RetrieveAPIView):
    permission_classes = PERMISSIONS
    serializer_class = TrainedModelDetailSerializer

    def get_queryset(self):
        return models_for(self.request.user)
