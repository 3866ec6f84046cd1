"""Write side of critiques: an annotator's written reason about a step of their task, and
the corrected step that goes with it (docs/labeling.md, "Critiques").

Each action runs in the labeling services' transaction (the assignment row locked, the
lease and membership checked); the step must be one the task shows. A machine reason that
was shown (``shown_source``: ``judge:<name>`` or ``imported:<name>``) is looked up here, not
taken from the client, so the record of what was shown is the machine's own text.
"""

from __future__ import annotations

from annotate.models import Assignment, Critique, StepNode
from annotate.selectors.labeling import rateable_node_ids, task_state
from annotate.selectors.verdicts import verdicts_for

from . import blind
from .labeling import (
    MAX_STEP_CHARS,
    LabelingError,
    _action,
    _begin,
    _parse_int,
    _refuse_nul,
    mark_final_answer,
)
from .tree import get_or_create_node

MAX_CRITIQUE_CHARS = 4000
#: The label sources that write reasons (docs/labels.md).
MACHINE_FAMILIES = ("judge", "imported")
ORIGINS = {c.value for c in Critique.Origin}


def clean_text(text, what: str = "critique", limit: int = MAX_CRITIQUE_CHARS) -> str:
    if not isinstance(text, str):
        raise LabelingError(f"The {what} must be text.")
    text = text.strip()
    _refuse_nul(text, what)
    if not text:
        raise LabelingError(f"Write the {what} before saving it.")
    if len(text) > limit:
        raise LabelingError(f"A {what} is at most {limit} characters; this one has {len(text)}.")
    return text


def machine_reason(spec: str, node_id: int, assignment) -> str:
    """The reason a machine source gave for the step in this task's solution, read through the
    one reader of label sources (``selectors.verdicts``). A source this labeler may not see (a
    blind certification's) gives none, as an unknown one does."""
    if not isinstance(spec, str):
        raise LabelingError("'shown_source' names a machine source: judge:<name> or imported:<name>.")
    family, _, name = spec.partition(":")
    if family not in MACHINE_FAMILIES or not name:
        raise LabelingError(f"'{spec[:200]}' is no machine critique source; use judge:<name> or "
                            "imported:<name>.")
    verdict = verdicts_for(spec, assignment.solution_id, [node_id],
                           blind.hidden_hints(assignment)).get(node_id)
    if verdict is None or not verdict.reason:
        raise LabelingError(f"{spec[:200]} gave no reason for this step.")
    return verdict.reason


def _origin(origin, text: str, shown: str | None) -> str:
    if origin is not None and not isinstance(origin, str):
        raise LabelingError("'origin' is one of written, accepted, edited, replaced.")
    if shown is None:
        if origin not in (None, "", Critique.Origin.WRITTEN):
            raise LabelingError(f"Origin '{str(origin)[:40]}' needs the machine reason that was "
                                "shown: give 'shown_source'.")
        return Critique.Origin.WRITTEN
    if origin in (None, ""):
        return Critique.Origin.ACCEPTED if text == shown.strip() else Critique.Origin.EDITED
    if origin not in ORIGINS or origin == Critique.Origin.WRITTEN:
        raise LabelingError("With a machine reason shown, 'origin' is one of accepted, edited, "
                            "replaced.")
    if origin == Critique.Origin.ACCEPTED and text != shown.strip():
        raise LabelingError("An accepted machine reason is kept as it was shown; the text "
                            "differs: say edited or replaced.")
    if origin != Critique.Origin.ACCEPTED and text == shown.strip():
        raise LabelingError(f"The text is the machine reason unchanged: that is accepted, not "
                            f"{origin}.")
    return origin


def _correction(assignment, node: StepNode, text, user) -> StepNode | None:
    if text in (None, ""):
        return None
    text = mark_final_answer(clean_text(text, "corrected step", MAX_STEP_CHARS))
    if text == node.text:
        raise LabelingError("The corrected step is the step itself; change it or leave it out.")
    corrected, _ = get_or_create_node(assignment.solution.problem, node.parent, text,
                                      author=StepNode.Author.HUMAN, author_user=user)
    return corrected


def _shown_node(assignment, node_id) -> StepNode:
    node_id = _parse_int(node_id, "The step id")
    if node_id not in rateable_node_ids(task_state(assignment)):
        raise LabelingError("That step is not part of this task (or not shown yet).")
    return StepNode.objects.get(pk=node_id)


def write(assignment_id: int, user, *, node_id, text, correction=None, shown_source=None,
          origin=None) -> Critique:
    """A new critique of a step the task shows; one per step (edit it afterwards)."""
    with _action():
        assignment = _begin(assignment_id, user)
        node = _shown_node(assignment, node_id)
        text = clean_text(text)
        if Critique.objects.filter(assignment=assignment, node=node).exists():
            raise LabelingError("This step already has your critique; edit it instead.", 409)
        shown = (machine_reason(shown_source, node.pk, assignment)
                 if shown_source not in (None, "") else None)
        return Critique.objects.create(
            assignment=assignment, node=node, author=user, text=text,
            origin=_origin(origin, text, shown), machine_source=shown_source if shown else "",
            shown_text=shown or "", correction=_correction(assignment, node, correction, user))


def _own(assignment, critique_id) -> Critique:
    critique_id = _parse_int(critique_id, "The critique id")
    critique = Critique.objects.filter(pk=critique_id, assignment=assignment).first()
    if critique is None:
        raise LabelingError("No such critique in this task.", 404)
    return critique


def edit(assignment_id: int, user, *, critique_id, text=None, correction=..., origin=None) -> Critique:
    """Change a critique's text (its origin re-derived against what was shown) and/or its
    corrected step (``correction`` "" or None removes it)."""
    with _action():
        assignment = _begin(assignment_id, user)
        critique = _own(assignment, critique_id)
        if text is None and correction is ... and origin is None:
            raise LabelingError("Give the new 'text' or 'correction'.")
        if text is not None or origin is not None:
            critique.text = clean_text(critique.text if text is None else text)
            shown = critique.shown_text if critique.machine_source else None
            critique.origin = _origin(origin, critique.text, shown)
        if correction is not ...:
            critique.correction = _correction(assignment, critique.node, correction, user)
        critique.save()
        return critique


def delete(assignment_id: int, user, *, critique_id) -> None:
    with _action():
        assignment = _begin(assignment_id, user)
        _own(assignment, critique_id).delete()


def missing_on_bad(state) -> str | None:
    """Where the project asks for a critique on every Bad step: the message naming the Bad
    steps without one (1-based step numbers), or None."""
    if not state.project.critique_required_on_bad:
        return None
    bad = [(p.index, item.node.pk) for p in state.positions for item in p.rateable
           if item.rating == -1]
    if not bad:
        return None
    have = set(Critique.objects.filter(assignment=state.assignment,
                                       node_id__in=[n for _, n in bad])
               .values_list("node_id", flat=True))
    missing = [f"step {i + 1}" for i, n in bad if n not in have]
    if not missing:
        return None
    return ("This project asks for a critique on every Bad step: write one for "
            f"{', '.join(missing)} before submitting.")


def _of_step(assignment_id: int, user, node_id: int) -> Critique | None:
    """The user's critique of the step in their task (the page names steps, not critiques)."""
    return Critique.objects.filter(assignment_id=assignment_id, node_id=node_id,
                                   assignment__annotator=user).first()


def save_from_page(assignment_id: int, user, *, node_id, text, correction=None,
                   origin=None, offered: bool = False) -> int:
    """The labeling page's critique box: write the step's critique, or edit the one it has.
    ``offered``: the box was opened with the task's machine reason in it (verify mode), so
    the record says whether it was accepted, edited or replaced. Returns the node id."""
    node_id = _parse_int(node_id, "The step id")
    existing = _of_step(assignment_id, user, node_id)
    if existing is not None:
        edit(assignment_id, user, critique_id=existing.pk, text=text,
             correction=correction or "", origin=origin or None)
        return node_id
    shown_source = None
    if offered:
        spec = (Assignment.objects.filter(pk=assignment_id, annotator=user)
                .values_list("shown_source", flat=True).first())
        shown_source = spec or None
    write(assignment_id, user, node_id=node_id, text=text, correction=correction or None,
          shown_source=shown_source, origin=origin or None)
    return node_id


def delete_on_page(assignment_id: int, user, *, node_id) -> int:
    node_id = _parse_int(node_id, "The step id")
    existing = _of_step(assignment_id, user, node_id)
    if existing is None:
        raise LabelingError("This step has no critique of yours to delete.", 404)
    delete(assignment_id, user, critique_id=existing.pk)
    return node_id
