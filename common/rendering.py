"""
The site's form renderer (settings.FORM_RENDERER): Django's, except that a field's label
and its plain widgets (text-like inputs, checkboxes, file inputs, text areas) are
written here, to the markup of Django's own templates for them, instead of rendering two
templates each (the element, then its attributes). Those renders cost a form of three
fields 1.5 ms of CPU, a tenth of the incident page's own work (docs/performance.md,
"Templates"). Every other template (selects, radios, whole forms, the admin's widgets)
is rendered by Django as before; tests/common/test_rendering.py checks the markup against
Django's for every field of the site's forms.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.forms.renderers import DjangoTemplates
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

# Django's widget templates that are nothing but `{% include "django/forms/widgets/input.html" %}`.
INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{name}.html"
    for name in ("input", "text", "email", "password", "number", "url", "search", "tel", "color", "date",
                 "datetime", "time", "hidden", "checkbox", "file")
)


def attributes(attrs: Mapping[str, Any] | None) -> str:
    """As django/forms/widgets/attrs.html: ` name="value"`, a bare ` name` for True, nothing for False."""
    return "".join(
        format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value)
        for name, value in (attrs or {}).items() if value is not False
    )


def input_element(context: Mapping[str, Any]) -> SafeString:
    """As django/forms/widgets/input.html."""
    widget = context["widget"]
    value = "" if widget["value"] is None else format_html(' value="{}"', widget["value"])
    return format_html('<input type="{}" name="{}"{}{}>', widget["type"], widget["name"], value,
                       mark_safe(attributes(widget["attrs"])))


def clearable_file_input(context: Mapping[str, Any]) -> SafeString | None:
    """As django/forms/widgets/clearable_file_input.html for a field with no file yet; None otherwise."""
    widget = context["widget"]
    if widget["is_initial"]:
        return None
    return format_html('<input type="{}" name="{}"{}>', widget["type"], widget["name"],
                       mark_safe(attributes(widget["attrs"])))


def textarea(context: Mapping[str, Any]) -> SafeString:
    """As django/forms/widgets/textarea.html."""
    widget = context["widget"]
    return format_html('<textarea name="{}"{}>\n{}</textarea>', widget["name"], mark_safe(attributes(widget["attrs"])),
                       widget["value"] or "")


def label(context: Mapping[str, Any]) -> SafeString:
    """As django/forms/label.html."""
    if not context["use_tag"]:
        return format_html("{}", context["label"])
    return format_html("<{}{}>{}</{}>", context["tag"], mark_safe(attributes(context["attrs"])), context["label"],
                       context["tag"])


WRITERS: dict[str, Callable[[Mapping[str, Any]], SafeString | None]] = {
    **dict.fromkeys(INPUT_TEMPLATES, input_element),
    "django/forms/widgets/clearable_file_input.html": clearable_file_input,
    "django/forms/widgets/textarea.html": textarea,
    "django/forms/label.html": label,
}


class FormRenderer(DjangoTemplates):
    """Django's template renderer, with the labels and plain widgets of WRITERS written directly."""

    def render(self, template_name: str, context: dict[str, Any], request: HttpRequest | None = None) -> str:
        writer = WRITERS.get(template_name)
        written = writer(context) if writer else None
        return written if written is not None else super().render(template_name, context, request)
