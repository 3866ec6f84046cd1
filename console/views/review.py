"""The reviewers' queue: accept, reject back to the queue, or correct step labels."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render

from annotate.models import Assignment
from quality import selectors, services
from quality.sql import analytic_session

from .permissions import STAFF, project_role_required

PRIORITY = {0: "disputed", 1: "flagged", 2: "submitted"}


@project_role_required(*STAFF)
def queue(request, project):
    with analytic_session():  # the disputed-solutions subquery must be a hashed one
        page = Paginator(selectors.review_queue(project), 50).get_page(request.GET.get("page"))
        page.object_list = list(page.object_list)
    for item in page:
        item.reason = PRIORITY[item.priority]
    return render(request, "manage/review_queue.html", {"project": project, "tab": "review",
                                                        "page": page})


@project_role_required(*STAFF)
def detail(request, project, assignment_id: int):
    assignment = get_object_or_404(
        Assignment.objects.select_related("solution__problem", "annotator"),
        pk=assignment_id, project=project)
    assignment.project = project  # the walk reads its mode; no second query
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
    return render(request, "manage/review_detail.html", {
        "project": project, "tab": "review", "assignment": assignment,
        "positions": selectors.review_walk(assignment), "decisions": assignment.review_decisions.all()},
        status=status)


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
