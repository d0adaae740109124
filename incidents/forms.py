from __future__ import annotations

import html
import uuid
from typing import Any

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.contrib.auth import get_user_model

from .models import Category, Incident, Severity
from .names import names
from .workflow import Status

MAX_SEARCH_LENGTH = 200


class IncidentReportForm(forms.Form):
    """
    What a reporter fills in. The hidden token is minted when the form is shown, so a
    double click or a back-and-resubmit finds the incident the first submit created.
    """

    title = forms.CharField(max_length=200, help_text="One line a responder can act on.")
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="What happened, what you expected, who is affected. Basic formatting and links are kept.",
    )
    category = forms.ModelChoiceField(queryset=Category.objects.filter(is_active=True), required=False)
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int, initial=Severity.SEV3)
    submission_token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)


class IncidentEditForm(forms.Form):
    """
    The edit form. It carries the version it was loaded at, so a save based on an older
    version is refused instead of overwriting someone else's change. Responders also
    get the assignee.
    """

    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}))
    category = forms.ModelChoiceField(queryset=Category.objects.all(), required=False)
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int)
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, can_triage: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if can_triage:
            assignee_field = self.fields["assignee"]
            assert isinstance(assignee_field, forms.ModelChoiceField)
            assignee_field.queryset = get_user_model().objects.filter(is_staff=True, is_active=True).order_by(
                "username"
            )
        else:
            del self.fields["assignee"]

    @classmethod
    def initial_for(cls, incident: Incident) -> dict[str, Any]:
        return {
            "title": incident.title,
            "description": incident.description,
            "category": incident.category_id,
            "severity": incident.severity,
            "assignee": incident.assignee_id,
            "version": incident.version,
        }


class CommentForm(forms.Form):
    body = forms.CharField(label="Comment", widget=forms.Textarea(attrs={"rows": 4}), max_length=20000)
    internal = forms.BooleanField(
        label="Internal note (responders only)", required=False, help_text="Reporters never see internal notes."
    )

    def __init__(self, *args: Any, can_write_internal_note: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not can_write_internal_note:
            del self.fields["internal"]


class TransitionForm(forms.Form):
    """The version the page showed, carried by every one-click action (workflow buttons, "Assign to me")."""

    version = forms.IntegerField(min_value=1)


# Each order ends with the primary key, so it is total and a page can continue from a row
# (incidents/pagination.py); Incident.Meta.indexes holds an index for each, per filter.
SORT_ORDERS = {
    "relevance": ("-rank", "-id"),
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "severity": ("severity", "-created_at", "-id"),
    "updated": ("-updated_at", "-id"),
}


class QuickSelect(forms.Select):
    """
    A select rendered in Python rather than through a template per option: the list
    page shows five of them, some fifty options, on every request (docs/performance.md).
    Same markup as Django's own select, without option groups, which these never have.
    """

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        chosen = self.format_value(value)
        options = []
        for option_value, label in self.choices:
            option_value = "" if option_value is None else str(option_value)
            selected = " selected" if option_value in chosen else ""
            if selected:
                chosen = []  # a single select marks only the first match, as Django's does
            options.append(f'<option value="{html.escape(option_value)}"{selected}>{html.escape(str(label))}</option>')
        return mark_safe(f'<select name="{html.escape(name)}"{flatatt(self.build_attrs(self.attrs, attrs))}>'
                         f'{"".join(options)}</select>')


class QuickTextInput(forms.TextInput):
    """The search box, rendered in Python like QuickSelect, with the markup of Django's own text input."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        shown = format_html(' value="{}"', widget["value"]) if widget["value"] is not None else ""
        return format_html('<input type="{}" name="{}"{}{}>', widget["type"], widget["name"], shown,
                           flatatt(widget["attrs"]))


# The filter fields' markup a worker keeps: by the values chosen, for the names it was drawn with.
_filter_markup: dict[str, Any] = {"names": None, "by_values": {}}
FILTER_MARKUP_KEPT = 256


class IncidentFilterForm(forms.Form):
    """
    The list's query parameters. Every value is checked against an allowlist; an
    invalid one is dropped (the list shows unfiltered on that field) rather than ever
    reaching the ORM.
    """

    q = forms.CharField(label="Search", required=False, max_length=MAX_SEARCH_LENGTH, widget=QuickTextInput)
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False, widget=QuickSelect)
    severity = forms.TypedChoiceField(choices=[("", "Any severity"), *Severity.choices], coerce=int, required=False,
                                      empty_value=None, widget=QuickSelect)
    category = forms.ModelChoiceField(queryset=Category.objects.all(), required=False, empty_label="Any category",
                                      widget=QuickSelect)
    assignee = forms.ChoiceField(required=False, widget=QuickSelect)
    sort = forms.ChoiceField(
        # The default is the best match when searching, the newest otherwise.
        choices=[("", "Best match, or newest"), ("newest", "Newest first"), ("oldest", "Oldest first"),
                 ("severity", "Most severe first"), ("updated", "Recently updated")],
        required=False, widget=QuickSelect,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shown = names()
        category_field = self.fields["category"]
        assert isinstance(category_field, forms.ModelChoiceField)
        # Shown from the cache; a submitted category is still looked up in the database.
        category_field.choices = [("", category_field.empty_label), *shown.categories.items()]
        assignee_field = self.fields["assignee"]
        assert isinstance(assignee_field, forms.ChoiceField)
        assignee_field.choices = [("", "Anyone"), ("me", "Me"), ("none", "Unassigned"),
                                  *((str(pk), label) for pk, label in shown.responders.items())]

    def as_filter_fields(self) -> SafeString:
        """
        Each field with its label, formatted here rather than through a template per label
        and widget. The markup depends only on the names offered and the values chosen,
        so the worker keeps the last few hundred it drew, until a category or responder
        changes: most requests are the list as first opened or one of a few common filters.
        """
        shown = names()
        if _filter_markup["names"] is not shown:
            _filter_markup.update(names=shown, by_values={})
        by_values: dict[tuple[str, ...], SafeString] = _filter_markup["by_values"]
        # What each widget shows: the submitted value of its field (Select and TextInput read one).
        values = tuple(str(self.data.get(name, "")) for name in self.fields)
        markup = by_values.get(values)
        if markup is None:
            markup = format_html_join(
                "\n", '<div class="field field-{}"><label for="{}">{}{}</label> {}</div>',
                ((field.name, field.id_for_label, field.label, self.label_suffix, field.as_widget()) for field in self),
            )
            if len(by_values) >= FILTER_MARKUP_KEPT:
                by_values.clear()
            by_values[values] = markup
        return markup

    def valid_filters(self) -> dict[str, Any]:
        """The cleaned value of each field that passed validation; the rest are ignored."""
        if not self.data:
            return {}
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}
