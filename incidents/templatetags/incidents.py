from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict

import bleach
from django import template
from django.forms import Form
from django.urls import reverse
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import get_text_list

from accounts.models import display_name
from incidents.models import Incident, Severity
from incidents.workflow import Status

register = template.Library()


@register.filter
def rich_text(value: str) -> SafeString:
    """
    Stored rich text, as stored: descriptions and comments are sanitised once, when
    written (common.text.clean_rich_text in incidents.services, the only way in for the
    site, the admin, the API and alerts), so the page shows it without cleaning it again,
    which cost a detail page a third of its time (docs/performance.md).
    """
    return mark_safe(value)  # noqa: S308 (sanitised on write, see above)


class FilterField(TypedDict):
    """One of the list's filters as _filter_fields.html draws it: `choices` (value, label, chosen) for a select."""

    name: str
    id: str
    label: str
    value: str
    max_length: int | None
    choices: list[tuple[str, str, bool]] | None


@register.filter
def filter_fields(form: Form) -> list[FilterField]:
    """
    The list's filters as dicts of text: the template language tries every name as a key
    first, and a bound field refuses that with an exception each time before the
    attribute is read: a sixth of the filters' cost.
    """
    fields = []
    for field in form:
        value = field.value()
        chosen = "" if value is None else str(value)
        choices = getattr(field.field, "choices", None)
        fields.append(FilterField(
            name=field.html_name, id=field.id_for_label, label=str(field.label), value=chosen,
            max_length=getattr(field.field, "max_length", None),
            choices=None if choices is None else [
                (str(option), str(label), str(option) == chosen) for option, label in choices],
        ))
    return fields


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


def absolute_time(local: datetime) -> str:
    """
    How a time reads beside its relative form, "2 Dec 2026, 14:05": the `date` filter's
    "j M Y, H:i", written directly. Formatting through django.utils.dateformat parses the
    format for every time shown, half the cost of a table row.
    """
    return f"{local.day} {MONTHS_3[local.month].title()} {local.year:04d}, {local.hour:02d}:{local.minute:02d}"


# The largest unit that fits, as people say it at a glance: "5 minutes ago", "3 days ago".
RELATIVE_UNITS = (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60))


@register.filter
def relative_time(value: datetime) -> str:
    """“just now”, “1 minute ago”, “3 days ago”, “2 years ago”; a time in the future reads as “just now”."""
    seconds = (timezone.now() - value).total_seconds()
    for unit, length in RELATIVE_UNITS:
        if seconds >= length:
            count = int(seconds // length)
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


@register.simple_tag
def moment(value: datetime | None) -> SafeString:
    """
    A time as "3 hours ago", with the exact local time beside it for screen readers and
    hover. Formatted here rather than by a template of its own: a detail page shows
    dozens, and a template render each cost more than the rest of the tag.
    """
    if not value:
        return mark_safe("–")
    local = timezone.localtime(value)
    return format_html('<time datetime="{}">{}</time> <span class="absolute-time">{}</span>',
                       local.isoformat(), relative_time(value), absolute_time(local))


# Labels by value, from the code's choices (get_FOO_display() looks them up through the
# field's flattened choices on every call, a tenth of a table's cost).
SEVERITY_LABELS = {value: str(label) for value, label in Severity.choices}
STATUS_LABELS = {value: str(label) for value, label in Status.choices}


def _badge(kind: str, value: object, label: str, name: str) -> SafeString:
    return format_html('<span class="badge {}-{}"><span class="visually-hidden">{} </span>{}</span>',
                       kind, value, name, label)


@register.simple_tag
def severity_badge(incident: Incident) -> SafeString:
    return _badge("severity", incident.severity, SEVERITY_LABELS.get(incident.severity, str(incident.severity)), "Severity")


@register.simple_tag
def status_badge(incident: Incident) -> SafeString:
    return _badge("status", incident.status, STATUS_LABELS.get(incident.status, incident.status), "Status")


class TableRow(TypedDict):
    """
    What a row of an incident table shows, as text: formatted here once rather than
    through a filter or a lookup per cell, which cost the list page half its table
    (docs/performance.md, "Templates"). Numbers too: the template localises every number
    it prints, a tenth of the table's cost for the same digits. A dict, since the template
    language tries every name as a key first: on any other object that attempt fails
    with an exception before the attribute is read, a fifth of the table's cost.
    """

    pk: str
    url: str
    title: str
    severity: str
    severity_label: str
    status: str
    status_label: str
    category: str
    assignee: str
    when_iso: str
    when_relative: str
    when_absolute: str


def table_row(incident: Mapping[str, Any], when: datetime, *, list_url: str) -> TableRow:
    """A row of an incident table from the incident's TABLE_VALUES (IncidentQuerySet.table_values)."""
    local = timezone.localtime(when)
    pk, severity, status = incident["id"], incident["severity"], incident["status"]
    return TableRow(
        # The detail page's address is the list's plus the number (incidents/urls.py, a
        # documented address): one reverse() per table instead of one per row.
        pk=str(pk), url=f"{list_url}{pk}/", title=incident["title"],
        severity=str(severity), severity_label=SEVERITY_LABELS.get(severity, str(severity)),
        status=status, status_label=STATUS_LABELS.get(status, status),
        category="—" if incident["category__name"] is None else incident["category__name"],
        assignee="" if incident["assignee"] is None else display_name(
            pk=incident["assignee"], first_name=incident["assignee__first_name"],
            last_name=incident["assignee__last_name"], is_staff=incident["assignee__is_staff"]),
        when_iso=local.isoformat(), when_relative=relative_time(when),
        when_absolute=absolute_time(local),
    )


@register.inclusion_tag("incidents/_incident_table.html")
def incident_table(incidents: list[dict[str, Any]], caption: str, show_updated: bool = False) -> dict[str, Any]:
    """
    A table of incidents (rows from IncidentQuerySet.table_values): the list and the
    dashboard's queues, each row with the time it shows (reported, or last updated).
    """
    list_url = reverse("incidents:list")
    rows = [table_row(incident, incident["updated_at" if show_updated else "created_at"], list_url=list_url)
            for incident in incidents]
    return {"rows": rows, "caption": caption, "show_updated": show_updated}
