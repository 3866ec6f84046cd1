"""A label save's writes in one statement: the rating (insert or update), its audit row and the
assignment's presentation and lease. Three round trips become one on PostgreSQL, where a data-
modifying CTE can do all three; elsewhere (SQLite) the same writes run one by one.

The rating is changed in memory first (``prepare``), the task state is derived from the
ratings in memory, and ``flush`` writes everything with the presentation that state gives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from annotate.models import Assignment, RatingChange, StepRating


@dataclass
class PendingWrite:
    rating: StepRating
    user_id: int
    old_rating: int | None
    old_flagged: bool | None
    changed: bool  # rating or flag: an audit row is written
    reason: str = "annotator"
    shown: dict | None = None  # verify mode: the verdict shown, kept from the first rating on


def prepare(rating: StepRating | None, assignment: Assignment, node_id: int, user, *,
            value=..., flagged=..., time_ms: int | None = None,
            reason: str = "annotator", shown: dict | None = None) -> PendingWrite:
    """``labeling._set`` in memory: the rating with its new values, not saved yet."""
    if rating is None:
        rating = StepRating(assignment=assignment, node_id=node_id)
    old_value, old_flag = rating.rating, rating.flagged
    new_value = old_value if value is ... else value
    new_flag = old_flag if flagged is ... else flagged
    if time_ms is not None:
        rating.time_spent_ms = (rating.time_spent_ms or 0) + time_ms
    rating.rating, rating.flagged = new_value, new_flag
    return PendingWrite(rating, user.pk, old_value, old_flag,
                        (new_value, new_flag) != (old_value, old_flag), reason, shown)


def kept_prefix(stored: list, presentation: list) -> int:
    """How many leading entries of the stored presentation the new one keeps as they are."""
    n, i = min(len(stored), len(presentation)), 0
    while i < n and stored[i] == presentation[i]:
        i += 1
    return i


def _presentation_sql(stored: list, presentation: list) -> tuple[str, list]:
    """The SET term of the presentation and its parameters. On a long trace the presentation
    has an entry per step shown, and a save changes its tail: only the tail is encoded and
    sent, and PostgreSQL keeps the stored entries before it (nothing when nothing changed)."""
    keep = kept_prefix(stored, presentation)
    if keep == len(stored) == len(presentation):
        return "presentation = presentation", []
    if keep == 0:
        return "presentation = %s::jsonb", [json.dumps(presentation, cls=DjangoJSONEncoder)]
    return ("presentation = jsonb_path_query_array(presentation, %s::jsonpath) || %s::jsonb",
            [f"$[0 to {keep - 1}]", json.dumps(presentation[keep:], cls=DjangoJSONEncoder)])


def flush(write: PendingWrite, assignment: Assignment, presentation: list,
          lease_expires_at, stored: list | None = None) -> None:
    """``stored``: the presentation as the assignment's row holds it (read under its lock)."""
    if connection.vendor != "postgresql":
        return _flush_orm(write, assignment, presentation, lease_expires_at)
    r, now = write.rating, timezone.now()
    rt, ct, at = StepRating._meta.db_table, RatingChange._meta.db_table, Assignment._meta.db_table
    shown = json.dumps(write.shown) if write.shown else None
    if r.pk is None:
        rating_sql = (f"INSERT INTO {rt} (assignment_id, node_id, rating, flagged, time_spent_ms,"
                      " shown, created, updated) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s)"
                      " RETURNING id")
        params = [assignment.pk, r.node_id, r.rating, r.flagged, r.time_spent_ms, shown, now, now]
    else:
        rating_sql = (f"UPDATE {rt} SET rating = %s, flagged = %s, time_spent_ms = %s,"
                      " shown = COALESCE(shown, %s::jsonb), updated = %s WHERE id = %s RETURNING id")
        params = [r.rating, r.flagged, r.time_spent_ms, shown, now, r.pk]
    set_presentation, presentation_params = _presentation_sql(stored or [], presentation)
    params += [write.user_id, write.old_rating, r.rating, write.old_flagged, r.flagged,
               write.reason, now, write.changed, *presentation_params, lease_expires_at,
               assignment.pk]
    with connection.cursor() as cur:
        cur.execute(
            f"""WITH r AS ({rating_sql}),
                c AS (INSERT INTO {ct} (rating_id, changed_by_id, old_rating, new_rating,
                                        old_flagged, new_flagged, reason, created)
                      SELECT id, %s, %s, %s, %s, %s, %s, %s FROM r WHERE %s),
                u AS (UPDATE {at} SET {set_presentation}, lease_expires_at = %s
                      WHERE id = %s)
                SELECT id FROM r""", params)
        r.id = cur.fetchone()[0]
    r._state.adding = False


def _flush_orm(write: PendingWrite, assignment: Assignment, presentation: list,
               lease_expires_at) -> None:
    r = write.rating
    if r.pk is None:
        r.shown = write.shown
        r.save()
    else:
        r.save(update_fields=["rating", "flagged", "time_spent_ms", "updated"])
        keep_first_shown(r, write.shown)
    if write.changed:
        RatingChange.objects.create(rating=r, changed_by_id=write.user_id,
                                    old_rating=write.old_rating, new_rating=r.rating,
                                    old_flagged=write.old_flagged, new_flagged=r.flagged,
                                    reason=write.reason)
    Assignment.objects.filter(pk=assignment.pk).update(
        presentation=presentation, lease_expires_at=lease_expires_at)


def keep_first_shown(rating: StepRating, shown: dict | None) -> None:
    """Record the verdict shown on a rating saved earlier without one (a flag pressed first);
    a verdict already recorded stays: it is what the person saw when they first rated."""
    if shown:
        StepRating.objects.filter(pk=rating.pk, shown__isnull=True).update(shown=shown)
