"""Template tags of the admin pages: the nav check, Markdown and server-rendered SVG charts."""

import math

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def can_manage(user) -> bool:
    from console.views.permissions import can_create_projects, managed_roles

    return bool(managed_roles(user)) or can_create_projects(user)


@register.filter
def markdown(text: str) -> str:
    """Instructions Markdown; raw HTML is escaped, not rendered."""
    from markdown_it import MarkdownIt

    return mark_safe(MarkdownIt("commonmark", {"html": False}).render(text or ""))


@register.filter
def pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


@register.filter
def num(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _number(value) -> float | None:
    """A finite float, else None (NaN or infinity would draw a bar of no width)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


#: A value of 0 (alpha 0: agreement no better than chance) still gets a visible bar.
MIN_BAR = 3


@register.simple_tag
def bar_chart(rows, label_key: str, value_key: str, title: str = "", width: int = 520):
    """A horizontal bar chart as inline SVG (no JavaScript, no CDN). A row without a value
    says "n/a" and its ``reason`` (e.g. why alpha is undefined) instead of a bar."""
    rows = [r for r in rows if r.get(value_key) is not None or r.get("reason")]
    bar, gap, left = 18, 6, 150
    height = max(1, len(rows)) * (bar + gap) + 24
    values = [_number(r.get(value_key)) for r in rows]
    top = max((abs(v) for v in values if v is not None), default=0.0) or 1.0
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for i, (r, value) in enumerate(zip(rows, values)):
        y = 12 + i * (bar + gap)
        label = escape(str(r[label_key]))[:24]
        parts.append(f'<text x="{left - 6}" y="{y + bar - 5}" text-anchor="end">{label}</text>')
        if value is None:
            why = r.get("reason") or "no value"
            parts.append(f'<text x="{left}" y="{y + bar - 5}" class="na">n/a: {escape(why)}</text>')
            continue
        w = max(MIN_BAR, (width - left - 70) * abs(value) / top)  # alpha < 0 in red
        shown = f"{value:.3g}" if isinstance(r[value_key], float) else str(r[value_key])
        kind = "bar neg" if value < 0 else "bar"
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" class="{kind}"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar - 5}">{escape(shown)}</text>')
    if not rows:
        parts.append('<text x="10" y="20">No data yet.</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
