from __future__ import annotations

from django import forms

from accounts.models import User

from .models import Schedule


class SwapRequestForm(forms.Form):
    schedule = forms.ModelChoiceField(queryset=Schedule.objects.all())
    cover = forms.ModelChoiceField(queryset=User.objects.filter(is_staff=True, is_active=True), label="Who covers")
    starts_at = forms.DateTimeField(label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ends_at = forms.DateTimeField(label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
