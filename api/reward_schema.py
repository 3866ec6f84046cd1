"""OpenAPI descriptions of the reward service (validation itself is in reward_api)."""

from rest_framework import serializers

from training.scoring import AGGREGATES


class ScoreItem(serializers.Serializer):
    problem = serializers.CharField(required=False, allow_blank=True)
    steps = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False,
                                  help_text="The steps; or give 'text' and a 'delimiter'.")
    text = serializers.CharField(required=False, help_text="Raw solution text to split.")
    delimiter = serializers.CharField(required=False, help_text='Default "\\n\\n".')


class ScoreRequest(serializers.Serializer):
    items = ScoreItem(many=True)
    aggregate = serializers.ChoiceField(choices=AGGREGATES, required=False, default="min")
    delimiter = serializers.CharField(required=False)


class ScoreResult(serializers.Serializer):
    steps = serializers.IntegerField()
    step_scores = serializers.ListField(child=serializers.FloatField(allow_null=True))
    score = serializers.FloatField(allow_null=True)


class ModelRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ScoreResponse(serializers.Serializer):
    model = ModelRef()
    aggregate = serializers.CharField()
    results = ScoreResult(many=True)


class OpenRlhfRequest(serializers.Serializer):
    query = serializers.ListField(child=serializers.CharField(allow_blank=True),
                                  help_text="Prompt followed by the response, per sample.")
    prompts = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    aggregate = serializers.ChoiceField(choices=AGGREGATES, required=False, default="min")
    delimiter = serializers.CharField(required=False)


class OpenRlhfResponse(serializers.Serializer):
    rewards = serializers.ListField(child=serializers.FloatField())


class PrmModelSummary(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    project = serializers.CharField()
    base_model = serializers.CharField()
    metrics = serializers.DictField()


class ModelListResponse(serializers.Serializer):
    models = PrmModelSummary(many=True)
