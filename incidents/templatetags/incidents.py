from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any, Iterable

import bleach
from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html, format_html_join
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


# The list and the dashboard draw these once or more per row; tags format them in Python,
# several times cheaper than included templates (docs/performance.md).
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
    # Django's "c" format is the ISO form; formatting directly skips the format lookup.
    return format_html('<time datetime="{}">{}</time> <span class="absolute-time">{}</span>',
                       local.isoformat(), naturaltime(value), dateformat.format(local, "j M Y, H:i"))


TABLE_ROW = (
    '\n      <tr>\n'
    '        <td class="cell-id">{}</td>\n'
    '        <td class="cell-title"><a href="{}">{}</a></td>\n'
    '        <td>{}</td>\n'
    '        <td>{}</td>\n'
    '        <td><span class="cell-label">Category: </span>{}</td>\n'
    '        <td><span class="cell-label">Assignee: </span>{}</td>\n'
    '        <td class="cell-time"><span class="cell-label">{} </span>{}</td>\n'
    '      </tr>\n    '
)
UNASSIGNED = mark_safe('<span class="muted">Unassigned</span>')
# A stand-in primary key: the detail address is reversed once per table, then each row's key replaces it.
URL_PLACEHOLDER_PK = 987654321


@register.simple_tag
def incident_table(incidents: Iterable[Incident], caption: str, show_updated: bool = False) -> SafeString:
    """
    A table of incidents, one row each, drawn in Python: the list shows 25 rows and the
    dashboard up to 40, and a template loop costs several times more per row
    (docs/performance.md). Every value goes through format_html and is escaped.
    """
    detail_url = reverse("incidents:detail", args=[URL_PLACEHOLDER_PK])
    placeholder = str(URL_PLACEHOLDER_PK)
    time_label = "Updated" if show_updated else "Reported"
    rows = format_html_join("", TABLE_ROW, (
        (incident.pk, detail_url.replace(placeholder, str(incident.pk)), incident.title,
         severity_badge(incident), status_badge(incident), incident.category or "—",
         incident.assignee or UNASSIGNED, time_label,
         moment(incident.updated_at if show_updated else incident.created_at))
        for incident in incidents
    ))
    return format_html(
        '<div class="table-wrap" role="region" aria-label="{}" tabindex="0">\n<table class="incident-table">\n'
        '  <caption class="visually-hidden">{}</caption>\n  <thead>\n'
        '    <tr><th scope="col">#</th><th scope="col">Title</th><th scope="col">Severity</th>'
        '<th scope="col">Status</th><th scope="col">Category</th><th scope="col">Assignee</th>'
        '<th scope="col">{}</th></tr>\n  </thead>\n  <tbody>\n    {}\n  </tbody>\n</table>\n</div>',
        caption, caption, time_label, rows,
    )
