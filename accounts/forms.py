from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordChangeForm
from django_otp.models import Device

from .models import TokenScope, User, time_zone_names
from .services import otp_verify, password_confirm

CODE_HELP = "The 6-digit code your authenticator app shows now, or one of your backup codes."


def code_field(**kwargs: Any) -> forms.CharField:
    return forms.CharField(
        max_length=32, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "none",
                                      "spellcheck": "false"}),
        **kwargs,
    )


class SignInCodeForm(forms.Form):
    """The second step of signing in: one code checked against the user's devices."""

    code = code_field(label="Code", help_text=CODE_HELP)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.device: Device | None = None

    def clean_code(self) -> str:
        self.device = otp_verify(self.user, token=self.cleaned_data["code"])
        return self.cleaned_data["code"]


class EnrolmentConfirmForm(forms.Form):
    code = code_field(label="Code from the app", help_text="Enter the 6-digit code the app shows after scanning.")


class ReauthenticateForm(SignInCodeForm):
    """
    Proof that the person at the keyboard holds both the password and the device,
    asked before backup codes are replaced or the second factor is removed. The
    password is checked first, so a wrong password never uses up a backup code.
    """

    password = forms.CharField(label="Current password", strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    code = code_field(label="Current code", help_text=CODE_HELP)
    field_order = ["password", "code"]

    def clean_password(self) -> str:
        if not password_confirm(self.user, password=self.cleaned_data["password"]):
            raise forms.ValidationError("That is not your current password.", code="wrong_password")
        return self.cleaned_data["password"]

    def clean_code(self) -> str:
        if "password" not in self.cleaned_data:
            return self.cleaned_data["code"]
        return super().clean_code()


class PreferencesForm(forms.ModelForm):
    """A user's own time zone and e-mail choices; the responder-only kinds are hidden from reporters."""

    time_zone = forms.ChoiceField(
        required=False,
        help_text="Dates and times on every page and in e-mails are shown in this zone.",
    )

    class Meta:
        model = User
        fields = ["time_zone", "notify_assigned", "notify_status", "notify_comments", "notify_major"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zone_field = self.fields["time_zone"]
        assert isinstance(zone_field, forms.ChoiceField)
        zone_field.choices = [("", f"The site's time zone ({settings.TIME_ZONE})"), *((n, n) for n in time_zone_names())]
        if not self.instance.is_staff:
            del self.fields["notify_assigned"]
            del self.fields["notify_major"]


class ApiTokenForm(forms.Form):
    """A new personal access token: what it is for, what it may do, and how long it lives."""

    EXPIRY_CHOICES = [(7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "1 year")]

    name = forms.CharField(max_length=80, help_text="What the token is for, e.g. “nightly report script”.")
    scope = forms.ChoiceField(choices=TokenScope.choices, initial=TokenScope.READ,
                              help_text="A read-only token cannot change anything, whatever your own rights.")
    expires_in_days = forms.TypedChoiceField(label="Expires in", choices=EXPIRY_CHOICES, coerce=int, initial=30)


class CurrentPasswordChangeForm(PasswordChangeForm):
    """Django's password change, with the current password counted and throttled like any other (password_confirm)."""

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        if not password_confirm(self.user, password=old_password):
            raise forms.ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password
