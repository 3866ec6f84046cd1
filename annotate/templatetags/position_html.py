"""A plain step of a long trace as HTML, built directly: the 362-step page spent most of its
time in the template engine walking ``_position.html`` once per step. Used by that template
for the common case of first-error mode, long trace or not (one step on the path, rated or
not, no hints, no agent turns, not the Bad position, no machine verdict or critique): a short solution's save renders two
such steps, a noticeable share of its CPU. Everything else still renders through the template. The output matches the
template's markup for that case."""


from annotate.selectors.labeling import is_final

_CLASS = {1: "great", 0: "okay", -1: "bad"}
_NAME = {1: "Great", 0: "Okay", -1: "Bad"}


def plain_position(pos, state, markdown) -> str:
    """The position's inner markup, or "" when the template must render it."""
    if (state.project.mode != "first_error" or pos.bad or pos.human or pos.waiting
            or pos.context or pos.turn or pos.after or len(pos.items) != 1):
        return ""
    item = pos.items[0]
    if item.role != "step" or item.hints or item.verdict is not None or item.critique is not None:
        return ""
    group = state.layout.group_of.get(pos.index) if state.layout is not None else None
    node = item.node
    rating = "" if item.rating is None else str(item.rating)
    classes = f"item step {_CLASS.get(item.rating, 'unrated')}{' chosen' if item.chosen else ''}"
    parts = [
        f'<div class="position" data-position="{pos.index}">'
        f'<div class="pos-label">Step {pos.index + 1}</div>'
        f'<div class="{classes}" data-node="{node.pk}"'
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
    if state.assignment.status == "active":
        okay = ('<button type="button" class="rate-btn okay-btn" data-rating="0">Okay</button>'
                if state.project.rating_scale != "binary" else "")
        parts.append(
            '<div class="actions">'
            '<button type="button" class="rate-btn great-btn" data-rating="1">Great</button>'
            f'{okay}<button type="button" class="rate-btn bad-btn" data-rating="-1">Bad</button>'
            f'<button type="button" class="flag-btn">{"Not unsure" if item.flagged else "Unsure"}'
            '</button><button type="button" class="critique-btn">Critique</button></div>')
    parts.append("</div></div>")
    return "".join(parts)
