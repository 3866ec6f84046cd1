"""Quality-control pages: gold items, screening results, agreement, the audit log."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.models import Assignment, Membership, Solution
from quality import agreement, selectors, services

from .permissions import ADMIN, STAFF, project_role_required


@project_role_required(ADMIN)
def gold(request, project):
    """Gold items with their key size, and admin-labeled solutions that could be promoted."""
    items = (Solution.objects.filter(project=project, is_gold=True)
             .annotate(keys=Count("gold_labels")).select_related("problem").order_by("-id")[:200])
    admins = Membership.objects.filter(project=project, role=ADMIN).values("user_id")
    promotable = (
        Assignment.objects.filter(project=project, status=Assignment.Status.SUBMITTED,
                                  annotator_id__in=admins, solution__is_gold=False)
        .select_related("annotator", "solution__problem").order_by("-finished_at", "-id")[:100]
    )
    return render(request, "manage/gold.html", {
        "project": project, "tab": "gold", "items": items, "promotable": promotable,
        "accuracy": selectors.gold_accuracy(project)})


@project_role_required(ADMIN)
@require_POST
def promote(request, project, assignment_id: int):
    assignment = get_object_or_404(Assignment, pk=assignment_id, project=project)
    try:
        n = services.promote_to_gold(assignment, request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("manage:gold", slug=project.slug)
    messages.success(request, f"Solution {assignment.solution_id} is now gold ({n} step labels).")
    return redirect("manage:gold", slug=project.slug)


@project_role_required(ADMIN)
def screening(request, project):
    return render(request, "manage/screening.html", {
        "project": project, "tab": "screening",
        "gold_count": Solution.objects.filter(project=project, is_gold=True).count(),
        "results": selectors.screening_results(project)})


@project_role_required(*STAFF)
def agreement_page(request, project):
    return render(request, "manage/agreement.html", {
        "project": project, "tab": "agreement",
        "summary": agreement.agreement_summary(project)})


@project_role_required(*STAFF)
def audit(request, project):
    page = Paginator(selectors.audit_log(project), 50).get_page(request.GET.get("page"))
    return render(request, "manage/audit.html", {"project": project, "tab": "audit", "page": page})
