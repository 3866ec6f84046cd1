"""Read-side quality queries: gold accuracy, screening, the review queue and its critiques,
the audit log.

Gold accuracy compares a rating with the answer key on "is this step Bad?": PRMBench-style
keys only know correct/incorrect, so Great vs Okay on a correct step is not a miss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Case, Count, Exists, F, IntegerField, Max, Min, OuterRef, QuerySet, Value, When

from annotate.models import (
    Assignment,
    Critique,
    GoldLabel,
    Membership,
    RatingChange,
    Solution,
    StepNode,
    StepRating,
)


def _gold_counts(project, assignment_ids=None) -> list[tuple[int, int, int, int]]:
    """(annotator_id, items, steps, matching steps) over submitted ratings of gold solutions.

    One join against the answer key (not a correlated subquery per rating)."""
    sr, asg = StepRating._meta.db_table, Assignment._meta.db_table
    sol, key = Solution._meta.db_table, GoldLabel._meta.db_table
    only = ""
    params: list = [project.pk, Assignment.Status.SUBMITTED]
    if assignment_ids is not None:
        if not assignment_ids:
            return []
        only = f"AND a.id IN ({', '.join(['%s'] * len(assignment_ids))})"
        params += list(assignment_ids)
    sql = f"""
        SELECT a.annotator_id, COUNT(DISTINCT a.id), COUNT(*),
               SUM(CASE WHEN (r.rating = -1) = (g.rating = -1) THEN 1 ELSE 0 END)
        FROM {sr} r
        JOIN {asg} a ON a.id = r.assignment_id
        JOIN {sol} s ON s.id = a.solution_id
        JOIN {key} g ON g.solution_id = a.solution_id AND g.node_id = r.node_id
        WHERE a.project_id = %s AND a.status = %s AND s.is_gold AND r.rating IS NOT NULL {only}
        GROUP BY a.annotator_id
    """
    from .sql import analytic_session

    with analytic_session(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(u, items, steps, int(correct or 0)) for u, items, steps, correct in cursor.fetchall()]


def gold_accuracy(project) -> list[dict]:
    """Per annotator: gold items and steps compared, and the share of steps matching the key."""
    rows = _gold_counts(project)
    names = dict(get_user_model().objects.filter(pk__in=[r[0] for r in rows])
                 .values_list("pk", "username"))
    return sorted(
        ({"annotator": names[u], "user_id": u, "items": items, "steps": steps,
          "correct": correct, "accuracy": correct / steps if steps else None}
         for u, items, steps, correct in rows),
        key=lambda r: r["annotator"],
    )


@dataclass
class ScreeningStatus:
    required: int
    done: int
    accuracy: float | None
    state: str  # "not_required" | "in_progress" | "passed" | "failed"

    @property
    def passed(self) -> bool:
        return self.state in ("not_required", "passed")


def screening_status(project, user) -> ScreeningStatus:
    """Screening is the annotator's first ``screening_items`` submitted gold assignments."""
    required = project.screening_items
    if required == 0:
        return ScreeningStatus(0, 0, None, "not_required")
    first = list(
        Assignment.objects.filter(project=project, annotator=user, solution__is_gold=True,
                                  status=Assignment.Status.SUBMITTED)
        .order_by("finished_at", "id").values_list("id", flat=True)[:required]
    )
    if not first:
        return ScreeningStatus(required, 0, None, "in_progress")
    counts = _gold_counts(project, first)
    steps = sum(r[2] for r in counts)
    accuracy = sum(r[3] for r in counts) / steps if steps else None
    if len(first) < required:
        return ScreeningStatus(required, len(first), accuracy, "in_progress")
    passed = accuracy is not None and accuracy >= project.screening_threshold
    return ScreeningStatus(required, len(first), accuracy, "passed" if passed else "failed")


def has_passed_screening(project, user) -> bool:
    """True when the project needs no screening, the user passed it, or the user is one of
    the project's admins or reviewers (they write the answer keys; nobody screens them)."""
    if project.screening_items == 0:
        return True
    from annotate.selectors.projects import role_in

    if role_in(project, user) in (Membership.Role.ADMIN, Membership.Role.REVIEWER):
        return True
    return screening_status(project, user).passed


def screening_results(project) -> list[dict]:
    """Screening state of every annotator of the project, for admins."""
    users = get_user_model().objects.filter(
        memberships__project=project, memberships__role=Membership.Role.ANNOTATOR
    ).order_by("username")
    return [{"annotator": u.username, "status": screening_status(project, u)} for u in users]


def solution_path(solution: Solution) -> list[StepNode]:
    """Root-to-leaf steps of a solution, from one query over the problem's nodes."""
    nodes = {n.pk: n for n in StepNode.objects.filter(
        problem_id=solution.problem_id, depth__lte=solution.last_step.depth)}
    path, node = [], nodes.get(solution.last_step_id)
    while node is not None:
        path.append(node)
        node = nodes.get(node.parent_id)
    return path[::-1]


@dataclass
class ReviewRow:
    """One step as the review page shows it: what this annotator did with it, and the rest."""
    node: StepNode
    role: str  # "walked" | "written" (the annotator's own step) | "alternative" | "unreached"
    rating: int | None = None
    flagged: bool = False
    others: list = field(default_factory=list)  # other submitted annotators' ratings
    consensus: object = None  # quality.consensus.ConsensusLabel or None
    correctable: bool = False  # correct_assignment accepts a label for it


@dataclass
class ReviewPosition:
    number: int  # 1-based, in the order walked
    rows: list[ReviewRow]


_ROLE_ORDER = {"walked": 0, "written": 1, "alternative": 2, "unreached": 3}


def review_walk(assignment: Assignment) -> list[ReviewPosition]:
    """The annotator's work in the order walked, read through the labeling page's own state
    (``task_state``), so the review page sees exactly the walk, flags, alternatives and own
    steps that the annotator saw: per position the step continued from (or the first error),
    the step they wrote, and the other candidates they rated. First-error work also lists the
    solution's steps after the walk ended; rated steps outside the walk are listed last."""
    from annotate.selectors.labeling import task_state
    from quality.consensus import consensus_labels

    state = task_state(assignment)
    ratings = {r.node_id: r for r in assignment.ratings.select_related("node")}
    positions: list[ReviewPosition] = []
    for pos in state.positions:
        rows = []
        for item in pos.items:
            walked = item.role == "step" or item.chosen
            if walked or item.rating is not None:
                rows.append(ReviewRow(item.node, "walked" if walked else "alternative",
                                      item.rating, bool(item.flagged)))
        if pos.human is not None:
            rows.append(ReviewRow(pos.human.node, "written"))
        rows.sort(key=lambda r: _ROLE_ORDER[r.role])  # the walk's step first, then the rest
        if rows:
            positions.append(ReviewPosition(pos.index + 1, rows))
    shown = {row.node.pk for p in positions for row in p.rows}
    path = solution_path(assignment.solution)
    if assignment.project.mode != assignment.project.Mode.BRANCH:
        for i, node in enumerate(path):  # the solution's steps the first-error walk never reached
            if node.pk not in shown:
                shown.add(node.pk)
                positions.append(ReviewPosition(i + 1, [ReviewRow(node, "unreached")]))
    stray = [r for node_id, r in sorted(ratings.items()) if node_id not in shown]
    for r in stray:
        positions.append(ReviewPosition(r.node.depth + 1, [
            ReviewRow(r.node, "alternative", r.rating, bool(r.flagged))]))
    _attach_others(assignment, positions, consensus_labels([assignment.solution_id]).get(
        assignment.solution_id, {}), {n.pk for n in path} | set(ratings))
    return positions


def _attach_others(assignment, positions, consensus, correctable) -> None:
    others: dict[int, list[int]] = {}
    for node_id, rating in StepRating.objects.filter(
        assignment__solution=assignment.solution, assignment__status=Assignment.Status.SUBMITTED,
        rating__isnull=False,
    ).exclude(assignment=assignment).values_list("node_id", "rating"):
        others.setdefault(node_id, []).append(rating)
    for row in (row for p in positions for row in p.rows):
        row.others = others.get(row.node.pk, [])
        row.consensus = consensus.get(row.node.pk)
        row.correctable = row.node.pk in correctable


def disputed_solution_ids(project) -> QuerySet:
    """Solutions where submitted ratings of some step disagree (a subquery, not a list)."""
    return (
        StepRating.objects.filter(
            assignment__project=project, assignment__status=Assignment.Status.SUBMITTED,
            rating__isnull=False,
        )
        .values("assignment__solution_id", "node_id")
        .annotate(lo=Min("rating"), hi=Max("rating"))  # cheaper than COUNT(DISTINCT)
        .filter(lo__lt=F("hi"))
        .values("assignment__solution_id")
    )


def review_queue(project) -> QuerySet[Assignment]:
    """Submitted, not yet reviewed assignments: disputed first, then flagged, then the rest."""
    from quality.models import ReviewDecision

    # A decision older than the latest submission does not count: rejected work that the
    # annotator resumed and resubmitted comes back for review.
    reviewed = ReviewDecision.objects.filter(assignment_id=OuterRef("pk"),
                                             created__gte=OuterRef("finished_at"))
    flagged = StepRating.objects.filter(assignment_id=OuterRef("pk"), flagged=True)
    return (
        Assignment.objects.filter(project=project, status=Assignment.Status.SUBMITTED)
        .exclude(Exists(reviewed))
        .annotate(priority=Case(
            When(solution_id__in=disputed_solution_ids(project), then=Value(0)),
            When(Exists(flagged), then=Value(1)),
            default=Value(2), output_field=IntegerField(),
        ))
        .select_related("annotator", "solution__problem")
        .order_by("priority", "finished_at", "id")
    )


def task_critiques(assignment: Assignment) -> list:
    """The task's critiques for the review page, in step order: each with its step number
    (``step_number``, 1 is the first step), the corrected step and who reviewed it."""
    rows = list(Critique.objects.filter(assignment=assignment)
                .select_related("node", "correction", "reviewed_by")
                .order_by("node__depth", "id"))
    for critique in rows:
        critique.step_number = critique.node.depth + 1
    return rows


def critique_counts(assignment_ids) -> dict[int, int]:
    """{assignment id: how many critiques it has} (those with none are absent)."""
    return dict(Critique.objects.filter(assignment_id__in=list(assignment_ids))
                .values("assignment_id").annotate(n=Count("id")).order_by()
                .values_list("assignment_id", "n"))


def audit_log(project) -> QuerySet[RatingChange]:
    return (
        RatingChange.objects.filter(rating__assignment__project=project)
        .select_related("changed_by", "rating__node", "rating__assignment__annotator")
        .order_by("-created", "-id")
    )
