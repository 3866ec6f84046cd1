"""The reviewers' queue: accept, reject back to the queue, correct step labels or a critique."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.models import Assignment, Critique
from quality import selectors, services
from quality.critique_review import correct_critique
from quality.sql import analytic_session

from .permissions import STAFF, project_role_required

PRIORITY = {0: "disputed", 1: "flagged", 2: "submitted"}


@project_role_required(*STAFF)
def queue(request, project):
    with analytic_session():  # the disputed-solutions subquery must be a hashed one
        page = Paginator(selectors.review_queue(project), 50).get_page(request.GET.get("page"))
        page.object_list = list(page.object_list)
    counts = selectors.critique_counts(item.pk for item in page)
    for item in page:
        item.reason = PRIORITY[item.priority]
        item.critique_count = counts.get(item.pk, 0)
    return render(request, "manage/review_queue.html", {"project": project, "tab": "review",
                                                        "page": page})


def _assignment(project, assignment_id: int) -> Assignment:
    assignment = get_object_or_404(
        Assignment.objects.select_related("solution__problem", "annotator"),
        pk=assignment_id, project=project)
    assignment.project = project  # the walk reads its mode; no second query
    return assignment


@project_role_required(*STAFF)
def detail(request, project, assignment_id: int):
    assignment = _assignment(project, assignment_id)
    status = 200
    if request.method == "POST":
        action, note = request.POST.get("action"), request.POST.get("note", "")
        try:
            if action == "accept":
                services.accept_assignment(assignment, request.user, note)
            elif action == "reject":
                services.reject_assignment(assignment, request.user, note)
            elif action == "correct":
                services.correct_assignment(assignment, request.user, _labels(request.POST), note)
            else:
                raise ValidationError("Unknown action; use accept, reject or correct.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            status = 400
        else:
            messages.success(request, f"Assignment {assignment.pk}: {action}ed.")
            return redirect("manage:review", slug=project.slug)
    return _render_detail(request, project, assignment, status)


def _render_detail(request, project, assignment, status: int = 200, drafts=None):
    """The review page; ``drafts`` ({critique id: text}) refills a refused correction."""
    critiques = selectors.task_critiques(assignment)
    for critique in critiques:
        critique.draft = (drafts or {}).get(critique.pk, critique.text)
    return render(request, "manage/review_detail.html", {
        "project": project, "tab": "review", "assignment": assignment,
        "positions": selectors.review_walk(assignment), "critiques": critiques,
        "decisions": assignment.review_decisions.all()}, status=status)


@project_role_required(*STAFF)
@require_POST
def correct_critique_view(request, project, assignment_id: int, critique_id: int):
    """A reviewer's correction of one critique of the task (``quality.critique_review``)."""
    assignment = _assignment(project, assignment_id)
    critique = get_object_or_404(Critique, pk=critique_id, assignment=assignment)
    text = request.POST.get("text", "")
    try:
        correct_critique(critique, request.user, text)
    except ValidationError as exc:
        messages.error(request, f"Critique of step {critique.node.depth + 1}: "
                                + " ".join(exc.messages))
        return _render_detail(request, project, assignment, 400, {critique.pk: text})
    messages.success(request, f"Critique of step {critique.node.depth + 1} corrected.")
    return redirect("manage:review_detail", slug=project.slug, assignment_id=assignment.pk)


def _labels(post) -> dict[int, int]:
    """Fields named label-<node id> with a value of -1, 0 or 1; empty means unchanged."""
    labels = {}
    for key, value in post.items():
        if key.startswith("label-") and value != "":
            try:
                labels[int(key[6:])] = int(value)
            except ValueError:
                raise ValidationError(f"Bad label field {key}={value!r}.") from None
    return labels
