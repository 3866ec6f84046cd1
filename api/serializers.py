"""Serializers of the API's resources, requests and responses."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotate.models import Assignment, Problem, Project, Solution, StepNode, StepRating
from exports.models import ExportSnapshot
from workers.models import Run

from .models import APIToken


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = APIToken
        fields = ["id", "name", "prefix", "scope", "expires_at", "revoked_at", "last_used_at",
                  "created"]
        read_only_fields = ["id", "prefix", "revoked_at", "last_used_at", "created"]


class TokenCreatedSerializer(TokenSerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(TokenSerializer.Meta):
        fields = TokenSerializer.Meta.fields + ["key"]


class RoleHiddenFields:
    """Leaves out ``hidden_from_annotators`` where the row's project is one the request's
    user only annotates (context ``annotator_projects``; annotate.selectors.visibility)."""

    hidden_from_annotators: tuple[str, ...] = ()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.project_id in self.context.get("annotator_projects", ()):
            for name in self.hidden_from_annotators:
                data.pop(name, None)
        return data


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "slug", "description", "mode", "rating_scale", "overlap",
                  "candidates_per_position", "queue_strategy", "gold_rate",
                  "critique_required_on_bad", "verify_source", "verify_blind_share",
                  "archived_at", "created", "role"]

    def get_role(self, obj) -> str | None:
        return self.context.get("roles", {}).get(obj.pk)


class ProblemSerializer(RoleHiddenFields, serializers.ModelSerializer):
    hidden_from_annotators = ("reference_solution",)

    class Meta:
        model = Problem
        fields = ["id", "project", "external_id", "statement", "ground_truth_answer",
                  "reference_solution", "subject", "level", "metadata", "created"]


class ProblemInSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                        default="")
    statement = serializers.CharField(max_length=100_000)
    ground_truth_answer = serializers.CharField(max_length=10_000, required=False,
                                                allow_blank=True, default="")
    reference_solution = serializers.CharField(max_length=100_000, required=False,
                                               allow_blank=True, default="")
    subject = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    level = serializers.IntegerField(min_value=0, max_value=32767, required=False,
                                     allow_null=True, default=None)
    metadata = serializers.DictField(required=False, default=dict)


class SolutionInSerializer(serializers.Serializer):
    problem_id = serializers.IntegerField(min_value=1, required=False)
    problem_external_id = serializers.CharField(max_length=200, required=False)
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                        default="")
    steps = serializers.ListField(child=serializers.CharField(max_length=100_000), min_length=1,
                                  max_length=2000)
    final_answer = serializers.CharField(max_length=10_000, required=False, allow_blank=True,
                                         default="")
    is_correct = serializers.BooleanField(required=False, allow_null=True, default=None)
    is_gold = serializers.BooleanField(required=False, default=False)
    metadata = serializers.DictField(required=False, default=dict)

    def validate(self, attrs):
        if not attrs.get("problem_id") and not attrs.get("problem_external_id"):
            raise serializers.ValidationError("Give problem_id or problem_external_id.")
        return attrs


class BulkProblemsSerializer(serializers.Serializer):
    project = serializers.IntegerField(min_value=1)
    items = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=1000)


class BulkSolutionsSerializer(BulkProblemsSerializer):
    pass


class RowResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "existing", "error"])
    id = serializers.IntegerField(allow_null=True)
    errors = serializers.DictField(allow_null=True)


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = RowResultSerializer(many=True)


class StepSerializer(serializers.ModelSerializer):
    class Meta:
        model = StepNode
        fields = ["id", "parent", "depth", "text", "author", "generator", "created"]


class SolutionSerializer(RoleHiddenFields, serializers.ModelSerializer):
    # Imports keep answer keys and machine scores in metadata (PRMBench's error_steps,
    # PRM800K's verifier_score) and name gold items in external_id ("...:modified").
    hidden_from_annotators = ("is_gold", "metadata", "external_id")

    class Meta:
        model = Solution
        fields = ["id", "project", "problem", "last_step", "external_id", "final_answer",
                  "is_correct", "is_gold", "source", "metadata", "created"]


class SolutionDetailSerializer(SolutionSerializer):
    steps = serializers.SerializerMethodField()

    class Meta(SolutionSerializer.Meta):
        fields = SolutionSerializer.Meta.fields + ["steps"]

    @extend_schema_field(StepSerializer(many=True))
    def get_steps(self, obj) -> list[dict]:
        # One query per level: a solution is a short path in a possibly large tree.
        path, node_id = [], obj.last_step_id
        while node_id is not None:
            node = StepNode.objects.get(pk=node_id)
            path.append(node)
            node_id = node.parent_id
        return StepSerializer(path[::-1], many=True).data


class AssignmentSerializer(RoleHiddenFields, serializers.ModelSerializer):
    # Whether a task is a gold check or screening would tell the annotator it is one.
    hidden_from_annotators = ("is_quality_control", "is_screening")

    class Meta:
        model = Assignment
        fields = ["id", "project", "solution", "annotator", "status", "source", "finish_reason",
                  "finish_note", "total_time_ms", "started_at", "finished_at", "labeled_at",
                  "is_quality_control", "is_screening", "created"]


class RatingSerializer(serializers.ModelSerializer):
    solution = serializers.IntegerField(source="assignment.solution_id", read_only=True)
    annotator = serializers.IntegerField(source="assignment.annotator_id", read_only=True)
    project = serializers.IntegerField(source="assignment.project_id", read_only=True)

    class Meta:
        model = StepRating
        fields = ["id", "assignment", "project", "solution", "annotator", "node", "rating",
                  "flagged", "time_spent_ms", "shown", "created", "updated"]


class RatingPageSerializer(serializers.Serializer):
    results = RatingSerializer(many=True)
    cursor = serializers.CharField(help_text="Pass as ?since= to get what changed after this page.")
    has_more = serializers.BooleanField()


class RunSerializer(serializers.ModelSerializer):
    progress_fraction = serializers.FloatField(read_only=True)
    notice = serializers.CharField(read_only=True, help_text="What a person waiting on the run "
                                   "should know: queued while the work queue is unreachable, "
                                   "or queued again after its worker stopped answering.")

    class Meta:
        model = Run
        fields = ["id", "kind", "params", "status", "progress_done", "progress_total",
                  "progress_fraction", "log", "error", "reason", "notice", "result", "project",
                  "cancel_requested", "attempts", "dispatch", "published_at", "heartbeat_at",
                  "created", "started_at", "finished_at"]

    def to_representation(self, run):
        from workers.display import public_value

        data = super().to_representation(run)
        # File names only: an import's upload path or a training's artefact folder is the
        # server's business (workers.display).
        data["params"], data["result"] = public_value(data["params"]), public_value(data["result"])
        user = getattr(self.context.get("request"), "user", None)
        if not (user is not None and (user.is_staff or user.is_superuser)):
            # The traceback and server paths are for staff; anyone else reads the reason.
            data["error"] = run.reason if run.error else ""
        return data


class RunCreateSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=40)
    project = serializers.IntegerField(min_value=1)
    params = serializers.DictField(required=False, default=dict)


class ExportSerializer(serializers.ModelSerializer):
    projects = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    run = RunSerializer(read_only=True)
    metadata = serializers.JSONField(
        source="options", read_only=True,
        help_text="What the build recorded: with a label rule, `labels` (the rule, each "
                  "source's version, candidates, kept, kept_fraction); with a token budget, "
                  "`token_budget` (rows and labeled steps a trainer would cut); see docs/api.md.")

    class Meta:
        model = ExportSnapshot
        fields = ["id", "name", "version", "format", "filters", "projects", "status", "files",
                  "row_count", "step_count", "content_hash", "metadata", "error", "created_by",
                  "created", "finished_at", "run"]


class ExportCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    spec = serializers.DictField(help_text="format, projects and filters; see docs/api.md.")


class TrainedModelNote(serializers.Serializer):
    detail = serializers.CharField()
