"""Template tags of the admin pages: the nav check, Markdown and server-rendered SVG charts."""

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


@register.simple_tag
def bar_chart(rows, label_key: str, value_key: str, title: str = "", width: int = 520):
    """A horizontal bar chart as inline SVG (no JavaScript, no CDN)."""
    rows = [r for r in rows if r.get(value_key) is not None]
    bar, gap, left = 18, 6, 150
    height = max(1, len(rows)) * (bar + gap) + 24
    top = max((abs(float(r[value_key])) for r in rows), default=0.0) or 1.0
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for i, r in enumerate(rows):
        y = 12 + i * (bar + gap)
        value = float(r[value_key])
        w = (width - left - 70) * abs(value) / top  # negative values (alpha < 0) in red
        label = escape(str(r[label_key]))[:24]
        shown = f"{value:.3g}" if isinstance(r[value_key], float) else str(r[value_key])
        parts.append(f'<text x="{left - 6}" y="{y + bar - 5}" text-anchor="end">{label}</text>')
        kind = "bar neg" if value < 0 else "bar"
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" class="{kind}"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar - 5}">{escape(shown)}</text>')
    if not rows:
        parts.append('<text x="10" y="20">No data yet.</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
