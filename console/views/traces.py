"""Re-cutting a project's imported long traces from the browser: the form starts a
``resegment`` Run (``generation.resegmenting``) and the Run's page shows its progress and
report."""

import json

from django import forms
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from generation.resegmenting import RUN_STRATEGIES

from .permissions import ADMIN, project_role_required


def _json_object(raw: str, what: str) -> dict:
    raw = (raw or "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValidationError(f"{what} is not JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise ValidationError(f"Give {what} as a JSON object.")
    return value


class ResegmentForm(forms.Form):
    strategy = forms.ChoiceField(choices=[(s, s) for s in RUN_STRATEGIES])
    options = forms.CharField(required=False, max_length=2000, label="Options (JSON)",
                              help_text='e.g. {"markers": ["Wait"], "max_steps": 500}; for llm '
                                        '{"max_new_tokens": 2048}; empty: none.')
    generator = forms.CharField(required=False, max_length=2000, label="Model (JSON, llm only)",
                                help_text='The project\'s generator settings with these changes, '
                                          'e.g. {"model": "...", "backend": "openai", "base_url": '
                                          '"..."}; empty: the project\'s generator.')
    solutions = forms.CharField(required=False, max_length=200000, label="Solution ids",
                                help_text="Comma-separated; empty: every traced solution of the project.")

    def clean_options(self) -> dict:
        return _json_object(self.cleaned_data.get("options"), "Options")

    def clean_generator(self) -> dict:
        return _json_object(self.cleaned_data.get("generator"), "The model settings")

    def clean_solutions(self) -> list[int] | None:
        raw = (self.cleaned_data.get("solutions") or "").replace(" ", "")
        try:
            ids = [int(part) for part in raw.split(",") if part]
        except ValueError:
            raise ValidationError("Give solution ids separated by commas.") from None
        if any(not 0 < i < 2**62 for i in ids):
            raise ValidationError("Solution ids are positive whole numbers.")
        return ids or None


@project_role_required(ADMIN)
def resegment_traces(request, project):
    from annotate.models import Solution
    from generation.resegmenting import start_resegment
    from workers.models import Run

    form = ResegmentForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                run = start_resegment(project=project, strategy=data["strategy"],
                                      options=data["options"], generator=data["generator"] or None,
                                      solution_ids=data["solutions"], user=request.user)
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("manage:run", project.slug, run.pk)
        status = 400
    runs = Run.objects.filter(project=project, kind="resegment").order_by("-created", "-pk")[:10]
    return render(request, "manage/traces.html", {
        "project": project, "tab": "import", "form": form, "runs": runs,
        "traced": Solution.objects.filter(project=project, trace__isnull=False).count()},
        status=status)
