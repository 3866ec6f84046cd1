"""A reviewer's correction of a critique: the review rules of ``quality.services`` (reviewers
and admins of the project, submitted assignments only); the annotator's text is kept."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotate.models import Critique

from .services import _check_reviewable

MAX_CRITIQUE_CHARS = 4000


@transaction.atomic
def correct_critique(critique: Critique, reviewer, text) -> Critique:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("Give the corrected critique's 'text'.")
    if "\x00" in text:  # PostgreSQL text cannot hold it: a message, not a DataError
        raise ValidationError("The corrected critique contains a NUL byte.")
    text = text.strip()
    if len(text) > MAX_CRITIQUE_CHARS:
        raise ValidationError(f"A critique is at most {MAX_CRITIQUE_CHARS} characters; this one "
                              f"has {len(text)}.")
    critique = Critique.objects.select_for_update().select_related("assignment__project").get(
        pk=critique.pk)
    _check_reviewable(critique.assignment, reviewer, text)
    if not critique.reviewed_by_id:
        critique.annotator_text = critique.text
    critique.text, critique.reviewed_by, critique.reviewed_at = text, reviewer, timezone.now()
    critique.save(update_fields=["text", "annotator_text", "reviewed_by", "reviewed_at", "updated"])
    return critique
