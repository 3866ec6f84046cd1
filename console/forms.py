"""Forms of the admin pages. Validation lives here and in the model's validators."""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError

from annotate.models import Membership, Project
from annotate.models.projects import DEFAULT_KEYMAP, validate_keymap
from annotate.services import queue_strategies
from outbound.credentials import UNKNOWN as SECRET_REFUSED
from outbound.credentials import secret_names
from quality.labels import UnknownSource, machine_source


def strategy_choices() -> list[tuple[str, str]]:
    """The registered queue strategies (apps register theirs in ``ready()``)."""
    return [(n, n.replace("_", " ")) for n in sorted(queue_strategies.STRATEGIES)]


class ProjectForm(forms.ModelForm):
    keymap = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}), required=False,
        help_text="One 'action = key' per line; actions: " + ", ".join(DEFAULT_KEYMAP),
    )

    class Meta:
        model = Project
        fields = ["name", "description", "instructions", "mode", "rating_scale", "overlap",
                  "candidates_per_position", "queue_strategy", "lease_seconds", "show_hints",
                  "verify_source", "verify_blind_share", "critique_required_on_bad", "gold_rate",
                  "screening_items", "screening_threshold"]
        widgets = {"instructions": forms.Textarea(attrs={"rows": 10}),
                   "description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = strategy_choices()
        current = self.instance.queue_strategy if self.instance.pk else None
        if current and current not in dict(choices):
            choices.append((current, f"{current} (not registered)"))
        self.fields["queue_strategy"] = forms.ChoiceField(choices=choices)
        self.fields["verify_blind_share"].required = False  # empty: no blind share
        keymap = self.instance.effective_keymap if self.instance.pk else DEFAULT_KEYMAP
        self.initial.setdefault("keymap", "\n".join(f"{a} = {k}" for a, k in keymap.items()))

    def clean_verify_blind_share(self) -> float:
        value = self.cleaned_data.get("verify_blind_share")
        return 0.0 if value is None else value

    def clean_verify_source(self) -> str:
        spec = (self.cleaned_data.get("verify_source") or "").strip()
        if spec:
            try:
                machine_source(spec)
            except UnknownSource as exc:
                raise ValidationError(str(exc)) from None
        return spec

    def clean_keymap(self) -> dict:
        text = self.cleaned_data.get("keymap") or ""
        keymap = {}
        for no, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if "=" not in line:
                raise ValidationError(f"Line {no}: write 'action = key'.")
            action, key = (part.strip() for part in line.split("=", 1))
            if action in keymap:
                raise ValidationError(f"Line {no}: '{action}' is bound twice.")
            keymap[action] = key
        validate_keymap(keymap)
        return keymap


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)
    password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Creates the account if the name is new; an existing account is added and "
                  "keeps its own password. Leave empty to add a member of your other projects.")
    email = forms.EmailField(required=False)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


IMPORT_FORMATS = [
    ("prm800k", "PRM800K JSONL"),
    ("problems", "Problems (JSONL or CSV)"),
    ("solutions", "Solutions JSONL (steps as a list or split text)"),
    ("math_shepherd", "Math-Shepherd (steps tagged ки)"),
    ("prmbench", "PRMBench (gold items with a known first error)"),
    ("agent_trajectory", "Agent trajectories (OpenAI chat or Anthropic messages; AgentProcessBench labels)"),
    ("machine_labels", "Machine labels JSONL (a judge's or another tool's step labels)"),
    ("trace", "Long chains of thought (a <think> block or a reasoning field), cut into steps"),
    ("deltabench", "DeltaBench (long traces with section labels)"),
]


class ImportForm(forms.Form):
    file = forms.FileField()
    fmt = forms.ChoiceField(choices=IMPORT_FORMATS, label="Format")
    field_map = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Problems, solutions and agent trajectories: one 'field = column' per line (problems: statement, "
        "answer, solution, subject, level, external_id; solutions: statement, answer, steps, "
        "text, final_answer, is_correct, external_id, problem_id; agent trajectories: "
        "messages, question, ground_truth, answer_text, step_labels, final_label, id). Empty "
        "uses the usual names.")
    delimiter = forms.CharField(
        required=False, strip=False,
        help_text="Solutions only: how to split a text solution into steps (default a blank line).")
    delimiter_is_regex = forms.BooleanField(required=False, label="Delimiter is a regex")
    segmentation = forms.CharField(
        required=False, max_length=2000, label="Segmentation",
        help_text='Long traces only: a strategy (blank_line, numbered, markers, sentence, budget) '
                  'or JSON, e.g. {"strategy": "markers", "markers": ["Wait"], "max_steps": 500}. '
                  "Empty: blank lines.")
    label_source = forms.CharField(
        required=False, max_length=200, label="Label source",
        help_text="Machine labels only: the name the labels are listed under (docs/labels.md).")
    label_kind = forms.ChoiceField(
        required=False, label="Label kind",
        choices=[("imported", "Imported machine label"), ("judge", "LLM judge")])
    step_key = forms.ChoiceField(
        required=False, label="Step keys",
        choices=[("position", "Positions (0 is the first step)"),
                 ("message_index", "Message indexes of agent-trajectory turns")])
    label_version = forms.CharField(
        required=False, label="Label version",
        help_text='Machine labels only: JSON, e.g. {"model": "gpt-5.2", "prompt_version": "v2"}.')

    def clean_field_map(self) -> dict:
        mapping = {}
        for no, line in enumerate((self.cleaned_data.get("field_map") or "").splitlines(), 1):
            if not line.strip():
                continue
            if "=" not in line:
                raise ValidationError(f"Line {no}: write 'field = column'.")
            field, column = (p.strip() for p in line.split("=", 1))
            if not field or not column:
                raise ValidationError(f"Line {no}: both a field and a column are needed.")
            mapping[field] = column  # the importer checks field names per format
        return mapping

    def clean_delimiter(self) -> str:
        raw = self.cleaned_data.get("delimiter") or ""
        # Typed escapes (\n, \t) mean what they say.
        return raw.replace("\\n", "\n").replace("\\t", "\t")

    def clean_label_version(self) -> dict:
        raw = (self.cleaned_data.get("label_version") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ValidationError(f"Not JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise ValidationError("Give a JSON object.")
        return value

    def clean_segmentation(self):
        raw = (self.cleaned_data.get("segmentation") or "").strip()
        if not raw.startswith("{"):
            return raw or None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ValidationError(f"Not JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise ValidationError("Give a strategy name or a JSON object.")
        return value

    def clean(self):
        data = super().clean()
        if data.get("segmentation") and data.get("fmt") != "trace":
            self.add_error("segmentation", "Segmentation applies to long traces only.")
        if data.get("fmt") == "machine_labels" and not data.get("label_source"):
            self.add_error("label_source", "Machine labels need a source name.")
        if data.get("delimiter_is_regex") and data.get("delimiter"):
            import re
            try:
                re.compile(data["delimiter"])
            except re.error as exc:
                self.add_error("delimiter", f"Not a valid regex: {exc}.")
        return data

    def options(self) -> dict:
        data = self.cleaned_data
        options: dict = {}
        if data.get("field_map"):
            options["field_map"] = data["field_map"]
        if data.get("delimiter"):
            options["delimiter"] = data["delimiter"]
            options["regex"] = bool(data.get("delimiter_is_regex"))
        if data.get("fmt") == "trace" and data.get("segmentation"):
            options["segmentation"] = data["segmentation"]
        if data.get("fmt") == "machine_labels":
            options.update(source=data["label_source"], kind=data.get("label_kind") or "imported",
                           step_key=data.get("step_key") or "position",
                           version=data.get("label_version") or {})
        return options


def dumps(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


def _escape(text: str) -> str:
    return json.dumps(text)[1:-1]


class GeneratorForm(forms.Form):
    """A project's generator: the model, where it runs, and how it samples."""

    model = forms.CharField(required=False, max_length=500,
                            help_text="A model folder under the deployment's model folders, or a name "
                                      "of its model registry (hub ids only there); empty: no "
                                      "generator. With a server, its tokenizer builds the prompts.")
    backend = forms.ChoiceField(choices=[
        ("transformers", "transformers (in the worker)"), ("vllm", "vLLM engine (in the GPU worker)"),
        ("openai", "OpenAI-compatible server (vllm serve, SGLang, TGI, transformers serve)")])
    base_url = forms.CharField(required=False, max_length=500, label="Server URL",
                               help_text="openai: e.g. http://vllm:8000/v1")
    served_model = forms.CharField(required=False, max_length=200,
                                   help_text="openai: the server's name for the model (default: model).")
    api_secret = forms.ChoiceField(
        required=False, label="API key", error_messages={"invalid_choice": SECRET_REFUSED},
        help_text="openai: one of the server secrets the operator defines for this deployment "
                  "(STEPWISE_SERVER_SECRETS); the key itself is never stored or shown.")
    concurrency = forms.IntegerField(min_value=1, max_value=256, initial=8)
    timeout = forms.FloatField(min_value=0.1, max_value=3600, initial=120, label="Timeout (s)")
    retries = forms.IntegerField(min_value=0, max_value=10, initial=3)
    tensor_parallel_size = forms.IntegerField(min_value=0, initial=0,
                                              help_text="vllm: GPUs per engine; 0 = all the worker has.")
    gpu_memory_utilization = forms.FloatField(min_value=0.05, max_value=1, initial=0.85)
    prefix_caching = forms.BooleanField(required=False, initial=True)
    dtype = forms.ChoiceField(choices=[(v, v) for v in ("auto", "bfloat16", "float16", "float32")])
    temperature = forms.FloatField(min_value=0, max_value=5, initial=0.8)
    top_p = forms.FloatField(min_value=0.01, max_value=1, initial=0.95)
    seed = forms.IntegerField(required=False, help_text="Empty: one per run.")
    delimiter = forms.CharField(initial="\\n\\n", strip=False, max_length=20,
                                help_text="The step delimiter, escaped as in JSON (\\n is a newline).")
    max_new_tokens = forms.IntegerField(min_value=1, max_value=32768, initial=512)
    max_step_tokens = forms.IntegerField(min_value=1, max_value=32768, initial=128)
    max_steps = forms.IntegerField(min_value=1, max_value=1000, initial=40)
    batch_size = forms.IntegerField(min_value=1, max_value=1024, initial=16)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A choice among the operator's names: nothing typed here reaches the environment.
        choices = [("", "none")] + [(n, n) for n in secret_names()]
        current = str(self.initial.get("api_secret") or "")
        if current and current not in dict(choices):  # shown, so saving never drops it silently
            choices.append((current, f"{current} (not defined by the operator)"))
        self.fields["api_secret"].choices = choices
        for field in self.fields.values():  # Django's message repeats the value typed
            if isinstance(field, forms.ChoiceField) and field is not self.fields["api_secret"]:
                field.error_messages["invalid_choice"] = "Select one of the choices offered."

    @classmethod
    def for_project(cls, project, data=None) -> GeneratorForm:
        current = dict(project.generator or {})
        if "delimiter" in current:
            current["delimiter"] = _escape(current["delimiter"])
        if "api_key_env" in current:  # the key's older name
            current.setdefault("api_secret", current.pop("api_key_env"))
        return cls(data, initial={k: v for k, v in current.items() if k in cls.base_fields})

    def clean_delimiter(self) -> str:
        try:
            value = json.loads(f'"{self.cleaned_data["delimiter"]}"')
        except json.JSONDecodeError as exc:
            raise ValidationError("Escape the delimiter as in a JSON string, e.g. \\n\\n.") from exc
        if not value:
            raise ValidationError("The delimiter cannot be empty.")
        return value

    def values(self, current: dict | None = None) -> dict:
        """The settings to store: the form's fields (empty ones left out, so they take their
        defaults) and the keys of ``current`` that the form does not show."""
        kept = {k: v for k, v in (current or {}).items()
                if k not in self.fields and k != "api_key_env"}  # replaced by api_secret
        return {**kept, **{k: v for k, v in self.cleaned_data.items() if v not in (None, "")}}
