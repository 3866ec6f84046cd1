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
_MATH = re.compile(r"(\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|(?<!\\)\$[^$\n]+?\$)", re.S)


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
