from __future__ import annotations

from typing import Any

from django import template
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


@register.inclusion_tag("incidents/_status_badge.html")
def status_badge(incident: object) -> dict[str, object]:
    return {"incident": incident}


@register.filter
def status_label(value: str) -> str:
    """The label of a status value as stored in the audit trail; a value since retired reads as itself."""
    return Status(value).label if value in Status.values else value


@register.filter
def changed_fields(changes: dict[str, Any]) -> str:
    """“title and severity”: the names of the incident fields an audit row says were edited."""
    labels = {field.name: str(field.verbose_name) for field in Incident._meta.concrete_fields}
    return get_text_list([labels.get(name, name) for name in changes], "and")
