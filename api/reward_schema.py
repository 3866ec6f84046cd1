"""OpenAPI descriptions of the reward service (validation itself is in reward_api)."""

from rest_framework import serializers

from training.scoring import AGGREGATES


class ScoreItem(serializers.Serializer):
    problem = serializers.CharField(allow_blank=True, required=False,
                                    help_text="Required unless 'messages' is given.")
    messages = serializers.ListField(
        child=serializers.JSONField(), required=False,
        help_text="A trajectory (OpenAI chat with tool calls, or Anthropic messages) in place "
                  "of problem and steps: each assistant turn is a step (docs/api.md).")
    system = serializers.CharField(required=False, help_text="Anthropic's system prompt, "
                                                             "with 'messages'.")
    steps = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False,
                                  help_text="The steps; or give 'text' and a 'delimiter'.")
    text = serializers.CharField(required=False, help_text="Raw solution text to split.")
    delimiter = serializers.CharField(required=False,
                                      help_text="Default: the model's step_delimiter.")


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
    query = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False,
                                  help_text="Prompt followed by the response, per sample.")
    messages = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField()), required=False,
        help_text="Trajectories (chat messages) in place of query and prompts: one reward each, "
                  "one step score per assistant turn.")
    prompts = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    labels = serializers.ListField(child=serializers.JSONField(), required=False,
                                   help_text="Sent by OpenRLHF; not used.")
    aggregate = serializers.ChoiceField(choices=AGGREGATES, required=False, default="min")
    delimiter = serializers.CharField(required=False,
                                      help_text="Default: the model's step_delimiter.")


class OpenRlhfExtraLogs(serializers.Serializer):
    prm_steps = serializers.ListField(child=serializers.FloatField())
    prm_min = serializers.ListField(child=serializers.FloatField())
    prm_last = serializers.ListField(child=serializers.FloatField())
    prm_empty = serializers.ListField(child=serializers.FloatField())
    prm_prompt_mismatch = serializers.ListField(child=serializers.FloatField())


class OpenRlhfResponse(serializers.Serializer):
    rewards = serializers.ListField(child=serializers.FloatField())
    scores = serializers.ListField(child=serializers.FloatField())
    step_scores = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)))
    extra_logs = OpenRlhfExtraLogs()
    aggregate = serializers.CharField()
    warnings = serializers.ListField(child=serializers.CharField())


class ClassifyRequest(serializers.Serializer):
    model = serializers.CharField(required=False, help_text="Ignored: the URL names the PRM.")
    input = serializers.ListField(child=serializers.CharField(allow_blank=True),
                                  help_text="Whole texts (a string is one); split into steps by "
                                            "the delimiter.")
    aggregate = serializers.ChoiceField(choices=AGGREGATES, required=False, default="last")
    delimiter = serializers.CharField(required=False)


class ClassifyData(serializers.Serializer):
    index = serializers.IntegerField()
    label = serializers.CharField()
    probs = serializers.ListField(child=serializers.FloatField(),
                                  help_text="[P(bad), P(good)]: probs[-1] is the reward.")
    num_classes = serializers.IntegerField()


class ClassifyUsage(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()


class ClassifyResponse(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    model = serializers.CharField()
    data = ClassifyData(many=True)
    usage = ClassifyUsage()


class SlimeRequest(serializers.Serializer):
    prompt = serializers.JSONField(required=False,
                                   help_text="The problem: a string or chat messages.")
    response = serializers.CharField(allow_blank=True, required=False)
    messages = serializers.ListField(child=serializers.JSONField(), required=False,
                                     help_text="A trajectory in place of prompt and response.")
    label = serializers.JSONField(required=False, help_text="Sent by slime; not used.")
    aggregate = serializers.ChoiceField(choices=AGGREGATES, required=False, default="min")
    delimiter = serializers.CharField(required=False)


class RewardUrlCreate(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)


class RewardUrlRow(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class RewardUrlCreated(RewardUrlRow):
    url = serializers.URLField(help_text="Shown once: pass it as OpenRLHF's --reward.remote_url.")


class RewardUrlList(serializers.Serializer):
    reward_urls = RewardUrlRow(many=True)


class PrmModelSummary(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    project = serializers.CharField()
    base_model = serializers.CharField()
    step_delimiter = serializers.CharField()
    metrics = serializers.DictField()


class ModelListResponse(serializers.Serializer):
    models = PrmModelSummary(many=True)
