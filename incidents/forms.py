from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from accounts.models import PERSON_NAME_FIELDS, display_name

from .models import Category, Incident, Severity
from .services import DESCRIPTION_MAX_LENGTH
from .workflow import Status

MAX_SEARCH_LENGTH = 200
ATTACHMENTS_HELP = ("Screenshots, logs or documents: PNG, JPEG, GIF, WebP, PDF, text, CSV or ZIP. You can choose up to "
                    "10. Animated images keep their first frame.")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """
    Any number of files from one input (Django's "Uploading multiple files"), cleaned to
    a list; works without JavaScript. What a file may be is checked by the services
    (incidents/attachments.py), which every way of attaching goes through.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, (list, tuple)) else [data] if data else []
        if self.required and not files:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return [super(MultipleFileField, self).clean(file, initial) for file in files]


def attachments_field() -> MultipleFileField:
    return MultipleFileField(label="Attachments", help_text=ATTACHMENTS_HELP)


class IncidentReportForm(forms.Form):
    """
    What a reporter fills in. The hidden token is minted when the form is shown, so a
    double click or a back-and-resubmit finds the incident the first submit created.
    """

    title = forms.CharField(max_length=200, help_text="One line a responder can act on.")
    description = forms.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 8}),
        help_text="What happened, what you expected, who is affected. Basic formatting and links are kept.",
    )
    category = forms.ModelChoiceField(queryset=Category.objects.filter(is_active=True), required=False)
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int, initial=Severity.SEV3)
    attachments = attachments_field()
    submission_token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)


class IncidentEditForm(forms.Form):
    """
    The edit form. It carries the version it was loaded at, so a save based on an older
    version is refused instead of overwriting someone else's change. Responders also
    get the assignee.
    """

    title = forms.CharField(max_length=200)
    description = forms.CharField(max_length=DESCRIPTION_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 8}))
    category = forms.ModelChoiceField(queryset=Category.objects.all(), required=False)
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int)
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, can_triage: bool, can_set_severity: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not can_set_severity:
            del self.fields["severity"]
        if can_triage:
            assignee_field = self.fields["assignee"]
            assert isinstance(assignee_field, forms.ModelChoiceField)
            assignee_field.queryset = get_user_model().objects.filter(is_staff=True, is_active=True).order_by(
                "first_name", "last_name", "pk"
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
        label="Internal note (responders only)", required=False,
        help_text="Reporters never see internal notes, nor the files attached to them.",
    )
    attachments = attachments_field()

    def __init__(self, *args: Any, can_write_internal_note: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not can_write_internal_note:
            del self.fields["internal"]


class TransitionForm(forms.Form):
    """The version the page showed, carried by every one-click action (workflow buttons, "Assign to me")."""

    version = forms.IntegerField(min_value=1)


class IncidentFilterForm(forms.Form):
    """
    The list's query parameters. Every value is checked against an allowlist; an
    invalid one is dropped (the list shows unfiltered on that field) rather than ever
    reaching the ORM.
    """

    q = forms.CharField(label="Search", required=False, max_length=MAX_SEARCH_LENGTH)
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False)
    severity = forms.TypedChoiceField(choices=[("", "Any severity"), *Severity.choices], coerce=int, required=False,
                                      empty_value=None)
    category = forms.TypedChoiceField(required=False, empty_value=None)
    assignee = forms.ChoiceField(required=False)
    sort = forms.ChoiceField(
        # The default is the best match when searching, the newest otherwise.
        choices=[("", "Best match, or newest"), ("newest", "Newest first"), ("oldest", "Oldest first"),
                 ("severity", "Most severe first"), ("updated", "Recently updated")],
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The categories are read once, as a list, and a chosen one is found in it: a
        # model choice field reads them through a server-side cursor and a count to draw
        # them, then once more to check the value (three round trips where one will do).
        categories = {str(category.pk): category for category in Category.objects.order_by("name")}
        category_field = self.fields["category"]
        assert isinstance(category_field, forms.TypedChoiceField)
        category_field.choices = [("", "Any category"), *((pk, category.name) for pk, category in categories.items())]
        category_field.coerce = categories.__getitem__
        assignee_field = self.fields["assignee"]
        assert isinstance(assignee_field, forms.ChoiceField)
        # Names from the columns, without building a user object each only to print its name.
        responders = get_user_model().objects.filter(is_staff=True).order_by("first_name", "last_name", "pk").values(
            "pk", *PERSON_NAME_FIELDS)
        assignee_field.choices = [("", "Anyone"), ("me", "Me"), ("none", "Unassigned"),
                                  *((str(person["pk"]), display_name(**person)) for person in responders)]

    def valid_filters(self) -> dict[str, Any]:
        """The cleaned value of each field that passed validation; the rest are ignored."""
        if not self.data:
            return {}
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


def list_order(filters: dict[str, Any]) -> str:
    """The list's order (a key of SORT_ORDERS): the one chosen, else the best match when searching, else the newest."""
    return str(filters.get("sort") or ("relevance" if "q" in filters else "newest"))
