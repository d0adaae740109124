"""
The site's form renderer writes labels and plain widgets itself: every field of the
site's forms, empty, filled and refused, is drawn exactly as Django's own templates draw it.
"""
from __future__ import annotations

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates

from accounts.forms import ApiTokenForm, CurrentPasswordChangeForm, PreferencesForm, SignInCodeForm
from common.rendering import FormRenderer
from incidents.forms import CommentForm, IncidentEditForm, IncidentFilterForm, IncidentReportForm
from oncall.forms import SwapRequestForm
from outbound.forms import SubscriptionForm
from tests.factories import make_user

HOSTILE = '"><script>alert(1)</script> & \'quoted\''


def site_forms(user):
    filled = {"title": HOSTILE, "description": HOSTILE, "body": HOSTILE, "internal": "on", "severity": "9",
              "version": "x", "code": HOSTILE, "name": HOSTILE, "url": "not a url", "q": HOSTILE,
              "starts_at": "yesterday", "time_zone": "Nowhere/Else", "old_password": HOSTILE}
    for data in (None, {}, filled):
        yield CommentForm(data, can_write_internal_note=True)
        yield IncidentReportForm(data)
        yield IncidentEditForm(data, can_triage=True, can_set_severity=True, initial={"title": HOSTILE, "version": 3})
        yield IncidentFilterForm(data)
        yield SignInCodeForm(data, user=user)
        yield ApiTokenForm(data)
        yield PreferencesForm(data, instance=user)
        yield SwapRequestForm(data)
        yield SubscriptionForm(data)
        yield CurrentPasswordChangeForm(user, data)


@pytest.mark.django_db
def test_every_field_of_the_site_forms_is_drawn_as_djangos_templates_draw_it():
    user = make_user(username="renderer", first_name='Ann "Al" <b>')
    fields = 0
    for form in site_forms(user):
        assert isinstance(form.renderer, FormRenderer)
        form.is_bound and form.is_valid()
        for field in form:
            ours = (field.label_tag(), str(field), field.as_hidden())
            form.renderer = DjangoTemplates()
            assert (field.label_tag(), str(field), field.as_hidden()) == ours, f"{type(form).__name__}.{field.name}"
            form.renderer = FormRenderer()
            fields += 1
    assert fields > 60


def test_a_file_input_with_a_stored_file_and_a_label_without_a_tag_fall_back_or_match():
    class WithFile(forms.Form):
        document = forms.FileField(required=False)

    form = WithFile(initial={"document": type("Stored", (), {"url": "/media/a.pdf", "__str__": lambda self: "a.pdf"})()})
    field = form["document"]
    ours = (str(field), field.label_tag(contents="Plain"))
    unlabelled = WithFile(auto_id=False)["document"].label_tag()
    form.renderer = DjangoTemplates()
    assert (str(field), field.label_tag(contents="Plain")) == ours
    assert WithFile(auto_id=False, renderer=DjangoTemplates())["document"].label_tag() == unlabelled
