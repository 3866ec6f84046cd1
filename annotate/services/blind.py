"""Blind labeling: solutions the queue serves first, and machine hints their annotators do
not see.

Another app fills the two registries in its ``ready()`` (``quality`` does, for the samples
of a source's certification, docs/labels.md "Certification"):

* ``FIRST``: ``fn(project) -> QuerySet`` of solution ids (``values("solution_id")`` or
  the like) the queue offers before the strategy's order, on the regular pool.
* ``HIDDEN``: ``fn(solution_id) -> QuerySet`` that refers to the outer ``PreAnnotation``
  row's ``kind`` and ``source`` (``OuterRef``); a hint for which it has a row is not shown
  to an annotator (a member with the annotator role) labeling that solution. Reviewers and
  admins still see it.

Both are read inside queries the queue and the labeling page already run, as subqueries.

  The app that hides hints says when a project may have such hints and when no longer
  (``hints_may_be_hidden``): the filter is only read for projects that may.

* ``SUBMITTED``: ``fn(assignment)`` called once a task's submission commits (the POST that
  finishes it), so what waits on human labels (a certification's verdict) is decided by
  that write, never by a page that reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from operator import or_

from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, Q, QuerySet

from annotate.models import Membership, Project

FIRST: list[Callable[[object], QuerySet]] = []
HIDDEN: list[Callable[[int], QuerySet]] = []
SUBMITTED: list[Callable[[object], None]] = []


def register_first(fn: Callable[[object], QuerySet]) -> Callable[[object], QuerySet]:
    if fn not in FIRST:
        FIRST.append(fn)
    return fn


def register_hidden(fn: Callable[[int], QuerySet]) -> Callable[[int], QuerySet]:
    if fn not in HIDDEN:
        HIDDEN.append(fn)
    return fn


def register_submitted(fn: Callable[[object], None]) -> Callable[[object], None]:
    if fn not in SUBMITTED:
        SUBMITTED.append(fn)
    return fn


def submitted(assignment) -> None:
    """Call the ``SUBMITTED`` hooks once the current transaction commits; a hook that fails
    is logged, never turned into an error of the submission that already committed."""
    for fn in SUBMITTED:
        transaction.on_commit(lambda fn=fn: fn(assignment), robust=True)


def first_flag_key(project) -> str:
    """The cache key of "the project has solutions to serve first" (the queue keeps it)."""
    return f"stepwise:serve-first:{project.pk}"


def first_changed(project) -> None:
    """What ``FIRST`` gives for the project changed (a sample drawn or finished): the queue
    looks again at its next task. Now and once the transaction commits."""
    cache.delete(first_flag_key(project))
    transaction.on_commit(lambda: cache.delete(first_flag_key(project)))


def first_solutions(project) -> Q | None:
    """A filter on Solution: the ones to serve first (None when nothing registered)."""
    if not FIRST:
        return None
    return reduce(or_, (Q(pk__in=fn(project)) for fn in FIRST))


def hints_may_be_hidden(project_id: int, hidden: bool) -> None:
    """Say whether some of the project's hints may be hidden (True once a certification
    starts; False once none that hides is left). Inside the caller's transaction: the row
    lock orders it with any other change of the flag."""
    Project.objects.filter(pk=project_id).update(hints_may_be_hidden=hidden)


def lock_hidden_flag(project_id: int) -> None:
    """Take the project row's lock before deciding the flag from what is stored (so that a
    certification started meanwhile is seen once its transaction commits)."""
    list(Project.objects.select_for_update().filter(pk=project_id).values_list("pk"))


def hidden_hints(assignment) -> Q | None:
    """A filter on PreAnnotation: the hints this assignment's labeler may not see (only when
    they label as an annotator). None when nothing may be hidden in its project."""
    if not HIDDEN or not assignment.project.hints_may_be_hidden:
        return None
    hidden = reduce(or_, (Q(Exists(fn(assignment.solution_id))) for fn in HIDDEN))
    annotator = Exists(Membership.objects.filter(
        project_id=assignment.project_id, user_id=assignment.annotator_id,
        role=Membership.Role.ANNOTATOR))
    return hidden & Q(annotator)
