from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from incidents.sanitize import clean_rich_text

register = template.Library()


@register.filter
def rich_text(value: str) -> SafeString:
    """
    Render stored rich text. It was sanitised on the way in; cleaning again on the way
    out means a row written by any other path still cannot carry markup that executes.
    """
    return mark_safe(clean_rich_text(value))


@register.inclusion_tag("incidents/_status_badge.html")
def status_badge(incident: object) -> dict[str, object]:
    return {"incident": incident}
