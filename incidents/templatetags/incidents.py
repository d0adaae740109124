from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Iterable

import bleach
from django import forms, template
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import get_text_list

from incidents.models import Incident, Severity
from incidents.names import categories_named, people_named
from common.text import clean_rich_text
from incidents.workflow import Status

register = template.Library()


# Texts up to this long are remembered once cleaned for display (see rich_text).
REMEMBERED_TEXT_LENGTH = 4000


@lru_cache(maxsize=2048)
def _cleaned_for_display(value: str) -> str:
    return clean_rich_text(value)


@register.filter
def rich_text(value: str) -> SafeString:
    """
    Render stored rich text. It was sanitised on the way in; cleaning again on the way
    out means a row written by any other path still cannot carry markup that executes.
    Cleaning is the dearest part of a detail page and gives the same result for the same
    text, so each worker remembers the last few thousand short texts it cleaned (a few
    megabytes at most): an incident read again is not cleaned again.
    """
    if len(value) > REMEMBERED_TEXT_LENGTH:
        return mark_safe(clean_rich_text(value))
    return mark_safe(_cleaned_for_display(value))


_blank_form_fields: dict[tuple[Any, ...], SafeString] = {}


@register.simple_tag
def form_fields(form: forms.BaseForm) -> SafeString:
    """
    form_fields.html for `form`. A form shown empty (unbound, no initial values) draws
    the same every time, so its markup is kept per worker, per form class and set of
    fields: the detail page shows the comment form on every view, and drawing it through
    the field templates cost a sixth of the page. Any other form is drawn each time.
    """
    blank = not (form.is_bound or form.initial or any(field.initial is not None for field in form.fields.values()))
    key = (type(form), form.prefix, form.auto_id, tuple(form.fields))
    markup = _blank_form_fields.get(key) if blank else None
    if markup is None:
        markup = render_to_string("form_fields.html", {"form": form})
        if blank:
            _blank_form_fields[key] = markup
    return markup


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


# The badges' markup per value, escaped once: the list draws two badges on every row.
SEVERITY_BADGES = {
    value: mark_safe(f'<span class="badge severity-{value}"><span class="visually-hidden">Severity </span>'
                     f'{html.escape(str(label))}</span>')
    for value, label in Severity.choices
}
STATUS_BADGES = {
    value: mark_safe(f'<span class="badge status-{value}"><span class="visually-hidden">Status </span>'
                     f'{html.escape(str(label))}</span>')
    for value, label in Status.choices
}


@register.simple_tag
def severity_badge(incident: Incident) -> SafeString:
    return SEVERITY_BADGES[incident.severity]


@register.simple_tag
def status_badge(incident: Incident) -> SafeString:
    return STATUS_BADGES[incident.status]


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The largest unit that fits, as people say it at a glance: "5 minutes ago", "3 days ago".
RELATIVE_UNITS = (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60))


def relative_time(value: datetime, now: datetime) -> str:
    """“just now”, “1 minute ago”, “3 days ago”, “2 years ago”; a time in the future reads as “just now”."""
    seconds = (now - value).total_seconds()
    for unit, length in RELATIVE_UNITS:
        if seconds >= length:
            count = int(seconds // length)
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def absolute_time(local: datetime) -> str:
    """“15 Jan 2026, 09:30”: the same text as the date filter's "j M Y, H:i", a dozen times cheaper per row."""
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local.hour:02d}:{local.minute:02d}"


@register.simple_tag
def moment(value: datetime | None) -> str:
    """
    A time as "3 hours ago", with the exact local time beside it for screen readers and
    hover. Formatted here in plain Python: the list draws it on every row, and Django's
    naturaltime and date formats cost more than the rest of the row together.
    """
    return _moment(value, now=timezone.now(), zone=timezone.get_current_timezone())


def _moment(value: datetime | None, *, now: datetime, zone: tzinfo) -> str:
    if not value:
        return "–"
    local = value.astimezone(zone)
    return mark_safe(f'<time datetime="{local.isoformat()}">{relative_time(value, now)}</time> '
                     f'<span class="absolute-time">{absolute_time(local)}</span>')


UNASSIGNED = '<span class="muted">Unassigned</span>'
# A stand-in primary key: an incident address is reversed once per worker, then each incident's key replaces it.
URL_PLACEHOLDER_PK = 987654321


@lru_cache(maxsize=64)
def _address_pattern(name: str, extra: tuple[str, ...], prefix: str, urlconf: str | None) -> str:
    return reverse(name, args=[URL_PLACEHOLDER_PK, *extra], urlconf=urlconf)


@register.simple_tag
def incident_url(name: str, pk: int, *extra: str) -> str:
    """
    `{% url name pk extra... %}` for the addresses of one incident, which pages draw
    many of (a table row each, a form per action): reversed once per worker, URL prefix
    and configuration, then filled with the incident's key.
    """
    pattern = _address_pattern(name, tuple(str(part) for part in extra), get_script_prefix(), get_urlconf())
    return pattern.replace(str(URL_PLACEHOLDER_PK), str(int(pk)))


@register.simple_tag
def incident_table(incidents: Iterable[Incident], caption: str, show_updated: bool = False) -> SafeString:
    """
    A table of incidents (rows from IncidentQuerySet.for_table), one row each, drawn in
    Python with f-strings: the list shows 25 rows and the dashboard up to 20, and a
    template loop, or format_html per cell, costs several times more per row
    (docs/performance.md). Every text a user wrote (title, category, assignee, caption)
    is escaped here; the rest are numbers, stored choices and our own markup.
    """
    time_label = "Updated" if show_updated else "Reported"
    incidents = list(incidents)
    categories = categories_named(incident.category_id for incident in incidents)
    assignees = people_named(incident.assignee_id for incident in incidents)
    now, zone = timezone.now(), timezone.get_current_timezone()
    rows = []
    for incident in incidents:
        category = html.escape(categories[incident.category_id]) if incident.category_id else "—"
        assignee = html.escape(assignees[incident.assignee_id]) if incident.assignee_id else UNASSIGNED
        rows.append(
            f'\n      <tr>\n'
            f'        <td class="cell-id">{int(incident.pk)}</td>\n'
            f'        <td class="cell-title"><a href="{incident_url("incidents:detail", incident.pk)}">'
            f'{html.escape(incident.title)}</a></td>\n'
            f'        <td>{SEVERITY_BADGES[incident.severity]}</td>\n'
            f'        <td>{STATUS_BADGES[incident.status]}</td>\n'
            f'        <td><span class="cell-label">Category: </span>{category}</td>\n'
            f'        <td><span class="cell-label">Assignee: </span>{assignee}</td>\n'
            f'        <td class="cell-time"><span class="cell-label">{time_label} </span>'
            f'{_moment(incident.updated_at if show_updated else incident.created_at, now=now, zone=zone)}</td>\n'
            f'      </tr>\n    '
        )
    caption = html.escape(caption)
    return mark_safe(
        f'<div class="table-wrap" role="region" aria-label="{caption}" tabindex="0">\n<table class="incident-table">\n'
        f'  <caption class="visually-hidden">{caption}</caption>\n  <thead>\n'
        '    <tr><th scope="col">#</th><th scope="col">Title</th><th scope="col">Severity</th>'
        '<th scope="col">Status</th><th scope="col">Category</th><th scope="col">Assignee</th>'
        f'<th scope="col">{time_label}</th></tr>\n  </thead>\n  <tbody>\n    {"".join(rows)}\n  </tbody>\n</table>\n</div>'
    )
