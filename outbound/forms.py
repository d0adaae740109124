from __future__ import annotations

from typing import Any

from django import forms

from .models import Event, Subscription


class SubscriptionForm(forms.ModelForm):
    """The events as checkboxes rather than a JSON list to type."""

    url = forms.URLField(label="Target URL", max_length=2000, assume_scheme="https",
                         help_text=Subscription._meta.get_field("url").help_text)
    events = forms.MultipleChoiceField(choices=Event.choices, widget=forms.CheckboxSelectMultiple,
                                       help_text="The events this URL is sent.")

    class Meta:
        model = Subscription
        fields = ["name", "url", "format", "events", "include_internal", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["events"].initial = self.instance.events or [Event.INCIDENT_REPORTED]
