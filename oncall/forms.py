from __future__ import annotations

from django import forms

from accounts.models import User
from outbound.models import Subscription

from .models import Schedule


class SwapRequestForm(forms.Form):
    schedule = forms.ModelChoiceField(queryset=Schedule.objects.all())
    cover = forms.ModelChoiceField(queryset=User.objects.filter(is_staff=True, is_active=True), label="Who covers")
    starts_at = forms.DateTimeField(label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ends_at = forms.DateTimeField(label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


class PageChannelForm(forms.ModelForm):
    """Where a responder is paged besides their mail: a chat channel's incoming webhook, or their own webhook."""

    url = forms.URLField(label="Incoming webhook URL", max_length=2000, assume_scheme="https",
                         help_text="A Slack, Mattermost or Teams incoming webhook (a direct-message channel, or a "
                                   "shared one with your handle below), or your own receiver of signed JSON.")

    class Meta:
        model = Subscription
        fields = ["url", "format", "chat_handle"]
        labels = {"format": "What it expects", "chat_handle": "Your chat handle"}
        help_texts = {"chat_handle": "Mentioned in each page, so that a shared channel notifies you: a Slack member id "
                                     "such as U0123ABCD, or your Mattermost or Teams user name."}
