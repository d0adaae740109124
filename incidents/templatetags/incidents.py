from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any

import bleach
from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import get_text_list

from incidents.models import Incident
from incidents.sanitize import clean_rich_text
from incidents.workflow import Status

register = template.Library()


@register.filter
def rich_text(value: str) -> SafeString:
    """
    Render stored rich text. It was sanitised on the way in; cleaning again on the way
    out means a row written by any other path still cannot carry markup that executes.
    """
    return mark_safe(clean_rich_text(value))


@register.filter
def status_label(value: str) -> str:
    """The label of a status value as stored in the audit trail; a value since retired reads as itself."""
    return Status(value).label if value in Status.values else value


@register.filter
def changed_fields(changes: dict[str, Any]) -> str:
    """“title and severity”: the names of the incident fields an audit row says were edited."""
    labels = {field.name: str(field.verbose_name) for field in Incident._meta.concrete_fields}
    return get_text_list([labels.get(name, name) for name in changes], "and")


@register.filter
def as_plain_text(value: str) -> str:
    """Stored rich text as readable plain text (for text e-mails): paragraphs and breaks kept as lines."""
    with_lines = re.sub(r"</p>|</li>|<br\s*/?>", "\n", value)
    return html.unescape(bleach.clean(with_lines, tags=set(), strip=True)).strip()


@register.filter
def duration(value: timedelta | None) -> str:
    """A span as a person would say it at a glance: "45 min", "3 h 20 min", "2 d 4 h"; "–" for none."""
    if value is None:
        return "–"
    minutes = int(value.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


# The list draws these once or more per row; a tag formats them in Python, several times
# cheaper than an included template (docs/performance.md).
@register.simple_tag
def severity_badge(incident: Incident) -> SafeString:
    return format_html('<span class="badge severity-{}"><span class="visually-hidden">Severity </span>{}</span>',
                       incident.severity, incident.get_severity_display())


@register.simple_tag
def status_badge(incident: Incident) -> SafeString:
    return format_html('<span class="badge status-{}"><span class="visually-hidden">Status </span>{}</span>',
                       incident.status, incident.get_status_display())


@register.simple_tag
def moment(value: datetime | None) -> str:
    """A time as "3 hours ago", with the exact local time beside it for screen readers and hover."""
    if not value:
        return "–"
    local = timezone.localtime(value)
    return format_html('<time datetime="{}">{}</time> <span class="absolute-time">{}</span>',
                       date_format(local, "c"), naturaltime(value), date_format(local, "j M Y, H:i"))
