"""Re-cutting a project's imported long traces from the browser (``annotate.services.resegment``)."""

from django import forms
from django.core.exceptions import ValidationError
from django.shortcuts import render

from annotate.segmentation import STRATEGIES

from .permissions import ADMIN, project_role_required

#: Traces re-cut in one request (each is a transaction); more: name solutions or use the command.
MAX_TRACES = 200


class ResegmentForm(forms.Form):
    strategy = forms.ChoiceField(choices=[(s, s) for s in STRATEGIES])
    options = forms.CharField(required=False, max_length=2000, label="Options (JSON)",
                              help_text='e.g. {"markers": ["Wait"], "max_steps": 500}; empty: none.')
    solutions = forms.CharField(required=False, max_length=20000, label="Solution ids",
                                help_text="Comma-separated; empty: every traced solution of the project.")

    def clean_options(self) -> dict:
        import json

        raw = (self.cleaned_data.get("options") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ValidationError(f"Not JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise ValidationError("Give a JSON object.")
        return value

    def clean_solutions(self) -> list[int]:
        raw = (self.cleaned_data.get("solutions") or "").replace(" ", "")
        try:
            return [int(part) for part in raw.split(",") if part]
        except ValueError:
            raise ValidationError("Give solution ids separated by commas.") from None


@project_role_required(ADMIN)
def resegment_traces(request, project):
    from annotate.models import Solution
    from annotate.services.resegment import ResegmentError, resegment

    form = ResegmentForm(request.POST or None)
    solutions = Solution.objects.filter(project=project, trace__isnull=False).order_by("pk")
    reports, failures, status = [], [], 200
    if request.method == "POST":
        if form.is_valid():
            chosen = solutions
            if form.cleaned_data["solutions"]:
                chosen = solutions.filter(pk__in=form.cleaned_data["solutions"])
                missing = set(form.cleaned_data["solutions"]) - set(chosen.values_list("pk", flat=True))
                if missing:
                    form.add_error("solutions", "No traced solution of this project has id(s) "
                                   f"{', '.join(map(str, sorted(missing)))}.")
            if form.is_valid() and chosen.count() > MAX_TRACES:
                form.add_error(None, f"{chosen.count()} traces; re-cut at most {MAX_TRACES} at once "
                               "(name solutions, or use the resegment_traces command).")
            if form.is_valid():
                for solution in chosen:
                    try:
                        reports.append(resegment(solution, strategy=form.cleaned_data["strategy"],
                                                 options=form.cleaned_data["options"]).summary())
                    except ResegmentError as exc:
                        failures.append(f"solution {solution.pk}: {exc}")
                if failures and not reports:
                    status = 400
        if form.errors:
            status = 400
    return render(request, "manage/traces.html", {
        "project": project, "tab": "import", "form": form, "traced": solutions.count(),
        "reports": reports, "failures": failures}, status=status)
