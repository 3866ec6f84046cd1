"""Template filters of the labeling page: Markdown with LaTeX left intact, always escaped."""

import re
from functools import lru_cache

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt

register = template.Library()

# html=False: any HTML in model text is shown as text, never interpreted.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")
# Math spans are cut out before Markdown (which would eat backslashes and underscores)
# and put back as escaped text for KaTeX auto-render on the client.
# LaTeX environments outside $...$ (PRM800K steps have bare \begin{align*}) count too.
_ENVS = "equation|align|alignat|gather|CD"
_MATH = re.compile(r"(\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|(?<!\\)\$[^$\n]+?\$"
                   rf"|\\begin\{{({_ENVS})(\*?)\}}.+?\\end\{{\2\3\}})", re.S)


@register.filter
def markdown_math(text) -> str:
    return mark_safe(_render(str(text or "")))


# Step texts never change (nodes are content-addressed), and every save re-renders the
# task panel: cache the rendering per text instead of re-running Markdown each time.
@lru_cache(maxsize=4096)
def _render(text: str) -> str:
    spans: list[str] = []

    def keep(match: re.Match) -> str:
        spans.append(match.group(0))
        return f"\ue000{len(spans) - 1}\ue001"

    html = _md.render(_MATH.sub(keep, text))
    return re.sub("\ue000(\\d+)\ue001", lambda m: escape(spans[int(m.group(1))]), html)


@register.filter
def rating_name(value) -> str:
    return {1: "Great", 0: "Okay", -1: "Bad"}.get(value, "")


@register.filter
def rating_class(value) -> str:
    return {1: "great", 0: "okay", -1: "bad"}.get(value, "unrated")


@register.filter
def answer_math(text) -> str:
    """A ground-truth answer is bare LaTeX (``3R^2``): give it delimiters so KaTeX renders it."""
    text = str(text or "").strip()
    if not text or _MATH.search(text):
        return markdown_math(text)
    return mark_safe(f'<span class="answer-tex">{escape(chr(92) + "(" + text + chr(92) + ")")}</span>')


@register.filter
def is_final_step(node) -> bool:
    from annotate.selectors.labeling import is_final

    return is_final(node)


_REASON_WORDS = {
    "found_error": "error found (a step is Bad)",
    "solution": "solution checked to the end",
    "give_up": "gave up",
    "bad_problem": "bad problem",
}


@register.filter
def reason_words(code) -> str:
    """Finish reasons in words; the codes (``found_error``) mean nothing to a newcomer."""
    return _REASON_WORDS.get(str(code or ""), str(code or ""))


@register.simple_tag
def task_progress(state) -> dict:
    """Where the annotator is: step n (of m in first-error mode) and how many shown are rated."""
    items = state.items
    current = state.current
    return {
        "step": (current.index + 1) if current else 0,
        "total": len(state.path) if state.path is not None else None,
        "rated": sum(1 for i in items if i.rating is not None),
        "shown": len(items),
    }


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` or None: the long-trace page's position -> group lookups."""
    return mapping.get(key) if mapping else None


@register.filter
def machine_flag(hints) -> bool:
    from annotate.selectors.long_trace import machine_flags

    return machine_flags(hints or [])


_CELL_WORDS = {"hidden": "not shown yet", "unrated": "unrated", "great": "Great", "okay": "Okay",
               "bad": "Bad"}


@register.simple_tag
def rail_cell(cell, oob: bool = False) -> str:
    """One rail cell (a step's state), built directly: the rail of a 362-step trace has 362,
    and an include per cell cost more than the whole rest of the page."""
    classes = ["rail-cell", cell.state]
    words = [f"Step {cell.index + 1}: {_CELL_WORDS.get(cell.state, cell.state)}"]
    if cell.flagged:
        classes.append("flagged")
        words.append("unsure")
    if cell.hint:
        classes.append("hint")
        words.append("a machine source flags it")
    if cell.group_start:
        classes.append("group-start")
    attrs = ' hx-swap-oob="true"' if oob else ""
    return mark_safe(
        f'<button type="button" class="{" ".join(classes)}" id="rail-{int(cell.index)}"'
        f' data-pos="{int(cell.index)}" data-node="{int(cell.node_id)}" data-state="{cell.state}"'
        f' title="{escape(", ".join(words))}" aria-label="{escape(", ".join(words))}"{attrs}>'
        f"</button>")


@register.simple_tag
def plain_position(pos, state) -> str:
    """A plain long-trace step built without the template engine (position_html.py); ""
    when ``_position.html`` must render it."""
    from .position_html import plain_position as build

    return mark_safe(build(pos, state, lambda text: _render(str(text or ""))))


@register.simple_tag
def preview(state, oob="") -> str:
    """Verify mode's preview block (position_html.py), rendered on every save in verify mode."""
    from .position_html import preview_block

    return mark_safe(preview_block(state, bool(oob), _render))
