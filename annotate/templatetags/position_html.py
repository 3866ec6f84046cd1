"""A plain step of a long trace as HTML, built directly: the 362-step page spent most of its
time in the template engine walking ``_position.html`` once per step. Used by that template
for the common case of first-error mode, long trace or not (one step on the path, rated or
not, with or without verify mode's machine verdict; no hints, no agent turns, not the Bad
position, no critique): a short solution's save renders two such steps, a noticeable share
of its CPU. Everything else still renders through the template. The output matches the
template's markup for that case (tests/test_position_html.py)."""

from django.utils.html import escape

from annotate.selectors.labeling import is_final

_CLASS = {1: "great", 0: "okay", -1: "bad"}
_NAME = {1: "Great", 0: "Okay", -1: "Bad"}


def plain_position(pos, state, markdown) -> str:
    """The position's inner markup, or "" when the template must render it."""
    if (state.project.mode != "first_error" or pos.bad or pos.human or pos.waiting
            or pos.context or pos.turn or pos.after or len(pos.items) != 1):
        return ""
    item = pos.items[0]
    if item.role != "step" or item.hints or item.critique is not None:
        return ""
    group = state.layout.group_of.get(pos.index) if state.layout is not None else None
    node, verdict = item.node, item.verdict
    rating = "" if item.rating is None else str(item.rating)
    classes = f"item step {_CLASS.get(item.rating, 'unrated')}{' chosen' if item.chosen else ''}"
    if verdict is not None:
        classes += f"{' machine-flag' if verdict.rating == -1 else ''}{' machine-unsure' if verdict.unsure else ''}"
    verdict_attr = "" if verdict is None else (
        f' data-verdict="{"" if verdict.rating is None else verdict.rating}"')
    parts = [
        f'<div class="position" data-position="{pos.index}">'
        f'<div class="pos-label">Step {pos.index + 1}</div>'
        f'<div class="{classes}" data-node="{node.pk}"{verdict_attr}'
        f'{f" data-group={chr(34)}{group.pk}{chr(34)}" if group else ""}'
        f' data-index="0" data-rating="{rating}" tabindex="-1">'
        f'<div class="text math">{markdown(node.text)}</div>'
        f'<div class="meta"><span class="badge rating-badge">{_NAME.get(item.rating, "unrated")}</span>',
    ]
    if item.flagged:
        parts.append('<span class="badge flag-badge">unsure</span>')
    if is_final(node):
        parts.append('<span class="badge final-badge">final answer · ends the solution</span>')
    parts.append("</div>")
    if verdict is not None:
        parts.append(verdict_html(verdict, item.rating, state.assignment.shown_source, markdown))
    if state.assignment.status == "active":
        pre = verdict.rating if verdict is not None and item.rating is None else None
        okay = (f'<button type="button" class="rate-btn okay-btn{_pre(pre, 0)}" data-rating="0">Okay</button>'
                if state.project.rating_scale != "binary" else "")
        parts.append(
            '<div class="actions">'
            f'<button type="button" class="rate-btn great-btn{_pre(pre, 1)}" data-rating="1">Great</button>'
            f'{okay}<button type="button" class="rate-btn bad-btn{_pre(pre, -1)}" data-rating="-1">Bad</button>'
            f'<button type="button" class="flag-btn">{"Not unsure" if item.flagged else "Unsure"}'
            '</button><button type="button" class="critique-btn">Critique</button></div>')
    parts.append("</div></div>")
    return "".join(parts)


def _pre(pre, rating: int) -> str:
    return " preselected" if pre == rating else ""


def verdict_html(verdict, rating, source: str, markdown) -> str:
    """Verify mode's verdict block of a step: the machine's label, how sure, whether the
    annotator confirmed or changed it, and its reason."""
    sure = "unsure" if verdict.unsure else "sure"
    said = ""
    if rating is not None:
        said = f" · you {'confirmed it' if rating == verdict.rating else 'changed it'}"
    reason = (f'<div class="verdict-reason math">{markdown(verdict.reason)}</div>'
              if verdict.reason else "")
    return (f'<div class="verdict{" unsure" if verdict.unsure else ""}" data-reason="{escape(verdict.reason)}">'
            f'<span class="badge verdict-badge">machine: {_NAME.get(verdict.rating, "no verdict")}</span> '
            f'<span class="muted">{escape(source)} · {sure} ({verdict.sure_text}){said}</span>'
            f"{reason}</div>")


def preview_block(state, oob: bool, markdown) -> str:
    """Verify mode's preview (``selectors.verify_state``): the steps after the current one
    whose verdicts accept takes, each with the machine's verdict. Rendered on every save in
    verify mode, so built directly."""
    steps = state.preview
    parts = [f'<div id="preview" class="preview"{" hx-swap-oob=" + chr(34) + "true" + chr(34) if oob else ""}>']
    if steps:
        what = "step" if len(steps) == 1 else f"{len(steps)} steps"
        parts.append(
            f'<div class="preview-label">Next {what}, with what '
            f"{escape(state.assignment.shown_source)} says: accept takes the highlighted step's "
            "verdict and these (up to its first Bad)</div>")
        parts.extend(preview_step(step, markdown) for step in steps)
    parts.append("</div>")
    return "".join(parts)


def preview_step(step, markdown) -> str:
    """One step of verify mode's preview (``selectors.verify_state.PreviewStep``): its text
    and the machine's verdict, which accept would take."""
    verdict = step.verdict
    reason = (f'<div class="verdict-reason math">{markdown(verdict.reason)}</div>'
              if verdict.reason else "")
    return (f'<div class="preview-step {_CLASS.get(verdict.rating, "unrated")}" data-preview="{int(step.node.pk)}">'
            f'<div class="pos-label">Step {step.index + 1}</div>'
            f'<div class="text math">{markdown(step.node.text)}</div>'
            f'<div class="verdict{" unsure" if verdict.unsure else ""}">'
            f'<span class="badge verdict-badge">machine: {_NAME.get(verdict.rating, "")}</span> '
            f'<span class="muted">{"unsure" if verdict.unsure else "sure"} ({verdict.sure_text})</span>'
            f"{reason}</div></div>")
