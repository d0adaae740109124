from __future__ import annotations

import copy
import datetime
import hashlib
import logging
from base64 import b32encode
from collections.abc import Callable
from functools import partial
from typing import Any

import segno
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.safestring import SafeString, mark_safe
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import FormView, TemplateView
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.middleware import client_ip
from audit.models import Action

from . import twostep
from .delays import address_locked, is_known_device, sign_in_succeeded, sign_in_wait_seconds
from .limits import counted
from .forms import (
    ApiTokenForm, CurrentPasswordChangeForm, EnrolmentConfirmForm, PreferencesForm, ReauthenticateForm, SignInCodeForm,
)
from .models import ApiToken, BackupCode, User
from .services import (
    api_token_create,
    api_token_revoke,
    backup_codes_regenerate,
    enrolment_link_issue,
    enrolment_link_redeem,
    password_set,
    second_factor_remove,
    totp_device_confirm,
    totp_device_start,
    user_preferences_update,
)
from .types import request_user

logger = logging.getLogger(__name__)

# Every form field that carries a password or a code: never shown in an error report.
SECRET_FIELDS = ("password", "code", "old_password", "new_password1", "new_password2")


TOO_MANY_FROM_ADDRESS = "Too many failed sign-ins came from your network. Try again in 15 minutes."


class SignInView(auth_views.LoginView):
    """
    Step one: the password. A user with a confirmed device is not signed in yet; the
    session remembers them for the code step. Everyone else is signed in here (staff
    without a device are then held at enrolment by SecondFactorRequiredMiddleware).
    """

    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """An account that must still wait is refused before its password is checked (so nothing is counted)."""
        username = request.POST.get("username", "")
        if address_locked(client_ip(request)):
            form = self.get_form_class()(request, initial={"username": username})
            return self.render_to_response(self.get_context_data(form=form, refusal=TOO_MANY_FROM_ADDRESS), status=429)
        wait = 0 if is_known_device(request, username) else sign_in_wait_seconds(username)
        # A locked-out pair gets axes' own answer, which says how long the lockout lasts.
        if wait and not AxesProxyHandler.is_locked(request, {"username": username}):
            form = self.get_form_class()(request, initial={"username": username})
            refusal = f"Too many wrong passwords for this account. Wait {wait} seconds, then try again."
            return self.render_to_response(self.get_context_data(form=form, refusal=refusal), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if user_has_device(user, confirmed=True):
            twostep.begin(self.request, user=user, redirect_to=self.get_success_url())
            response = redirect("accounts:login_code")
        else:
            login(self.request, user)
            response = redirect(self.get_success_url())
        sign_in_succeeded(response, user)
        return response


@method_decorator([sensitive_post_parameters(*SECRET_FIELDS), never_cache], name="dispatch")
class SignInCodeView(FormView):
    """
    Step two: a code from the authenticator app or a backup code. Also where a
    signed-in user with a device proves it when their session is not verified yet.
    """

    template_name = "accounts/login_code.html"
    form_class = SignInCodeForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = twostep.pending_user(request)
        if user is None and request.user.is_authenticated and not twostep.is_verified(request.user):
            user = request_user(request) if user_has_device(request.user, confirmed=True) else None
        if user is None and request.user.is_authenticated:
            return redirect(settings.LOGIN_REDIRECT_URL)
        if user is None:
            twostep.clear(request)
            messages.info(request, "Your sign-in timed out. Enter your username and password again.")
            return redirect("accounts:login")
        self.user = user
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.user}

    def form_valid(self, form: SignInCodeForm) -> HttpResponse:
        redirect_to = twostep.pending_redirect(self.request)
        assert form.device is not None
        twostep.complete(self.request, user=self.user, device=form.device)
        return redirect(redirect_to)


def qr_svg(data: str) -> SafeString:
    """The QR code as inline SVG made here, so no third party ever sees the secret and the CSP stays strict."""
    return mark_safe(segno.make(data, error="m").svg_inline(scale=4, dark="#000", light="#fff", title="QR code to scan"))


def spaced(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


@method_decorator(never_cache, name="dispatch")
class SecurityView(LoginRequiredMixin, TemplateView):
    """Two-factor status and enrolment, backup codes and password change for the signed-in user."""

    template_name = "accounts/security.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = request_user(self.request)
        context = super().get_context_data(**kwargs)
        confirmed = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
        pending = None if confirmed else twostep.enrolment_device(self.request, user)
        context.update(
            device=confirmed,
            pending=pending,
            backup_codes_left=BackupCode.objects.filter(device__user=user, device__confirmed=True).count(),
            required=user.is_staff or user.is_superuser,
            may_enrol=twostep.may_enrol_at_will(user),
            reauth_form=kwargs.get("reauth_form") or ReauthenticateForm(user=user),
            password_form=kwargs.get("password_form") or CurrentPasswordChangeForm(user),
            api_tokens=user.api_tokens.all(),
            api_token_form=kwargs.get("api_token_form") or ApiTokenForm(),
            can_create_api_token=not (user.is_staff or user.is_superuser) or twostep.is_verified(user),
        )
        if pending is not None:
            secret = b32encode(pending.bin_key).decode()
            context.update(qr_code=qr_svg(pending.config_url), secret=spaced(secret),
                           confirm_form=kwargs.get("confirm_form") or EnrolmentConfirmForm())
        return context


@method_decorator(sensitive_post_parameters(*SECRET_FIELDS), name="dispatch")
class SecurityActionView(LoginRequiredMixin, View):
    """Base for the POST-only actions of the security page; each renders the page again on a form error."""

    http_method_names = ["post"]

    @property
    def user(self) -> User:
        return request_user(self.request)

    def page(self, status: int = 200, **context: Any) -> HttpResponse:
        view = SecurityView(request=self.request, kwargs={})
        return view.render_to_response(view.get_context_data(**context), status=status)

    def show_codes(self, codes: list[str], message: str) -> HttpResponse:
        """Backup codes appear in this one response and never again."""
        messages.success(self.request, message)
        return self.page(backup_codes=codes)


class EnrolmentStartView(SecurityActionView):
    def post(self, request: HttpRequest) -> HttpResponse:
        if not twostep.may_enrol_at_will(self.user):
            messages.error(request, NEEDS_ENROLMENT_LINK)
            return redirect("accounts:security")
        twostep.enrolment_begin(request, device=totp_device_start(self.user))
        return redirect("accounts:security")


class EnrolmentConfirmView(SecurityActionView):
    def post(self, request: HttpRequest) -> HttpResponse:
        device = twostep.enrolment_device(request, self.user)
        if device is None:
            return redirect("accounts:security")
        form = EnrolmentConfirmForm(request.POST)
        if form.is_valid():
            try:
                codes = totp_device_confirm(device, token=form.cleaned_data["code"])
            except ValidationError as error:
                form.add_error("code", error)
            else:
                update_session_auth_hash(request, device.user)
                twostep.complete(request, user=self.user, device=device)
                return self.show_codes(codes, "Two-factor sign-in is on. Save your backup codes now.")
        return self.page(status=400, confirm_form=form)


NEEDS_ENROLMENT_LINK = ("Staff accounts set up two-factor sign-in through a one-time enrolment link, e-mailed to the "
                        "account's address or issued by an administrator.")
ENROLMENT_LINKS_PER_HOUR = 3


class EnrolmentLinkRequestView(SecurityActionView):
    """Staff who may not enrol at will ask for a link, sent only to the address already on their account."""

    def post(self, request: HttpRequest) -> HttpResponse:
        user = self.user
        if twostep.may_enrol_at_will(user):
            return redirect("accounts:security")
        if not user.email:
            messages.error(request, "Your account has no e-mail address. Ask an administrator for an enrolment link.")
        elif counted(f"enrolment-link:{user.pk}", window=HOUR) > ENROLMENT_LINKS_PER_HOUR:
            messages.error(request, "Enrolment links were sent several times this hour. Use the newest one, "
                                    "or ask an administrator.")
        else:
            enrolment_link_issue(user, actor=user)
            messages.success(request, "An enrolment link is on its way to the e-mail address of your account.")
        return redirect("accounts:security")


@method_decorator(never_cache, name="dispatch")
class EnrolmentLinkView(LoginRequiredMixin, TemplateView):
    """
    The page an enrolment link opens, for the account it was issued to, once signed in.
    Opening it changes nothing (mail scanners follow links); the button uses it up and
    starts the authenticator, which only this session can then see and confirm.
    """

    template_name = "accounts/enrolment_link.html"

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        user = request_user(request)
        try:
            device = enrolment_link_redeem(user, token=token)
        except ValidationError as error:
            return self.render_to_response(self.get_context_data(error=error.messages[0]), status=400)
        twostep.enrolment_begin(request, device=device)
        return redirect("accounts:security")


class BackupCodesRegenerateView(SecurityActionView):
    def post(self, request: HttpRequest) -> HttpResponse:
        form = ReauthenticateForm(request.POST, user=self.user)
        if not form.is_valid():
            return self.page(status=400, reauth_form=form)
        codes = backup_codes_regenerate(self.user)
        return self.show_codes(codes, "New backup codes generated; the old ones no longer work.")


class SecondFactorRemoveView(SecurityActionView):
    def post(self, request: HttpRequest) -> HttpResponse:
        form = ReauthenticateForm(request.POST, user=self.user)
        if not form.is_valid():
            return self.page(status=400, reauth_form=form)
        second_factor_remove(self.user, actor=self.user)
        messages.success(request, "Two-factor sign-in is off." + (
            " Staff must set it up again before continuing." if self.user.is_staff or self.user.is_superuser else ""))
        return redirect("accounts:security")


class ApiTokenCreateView(SecurityActionView):
    """Creates a personal access token and shows its secret in this one response."""

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            expires_at = timezone.now() + datetime.timedelta(days=form.cleaned_data["expires_in_days"])
            try:
                token, secret = api_token_create(
                    self.user, name=form.cleaned_data["name"], scope=form.cleaned_data["scope"], expires_at=expires_at,
                    second_factor_verified=twostep.is_verified(self.user),
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"API token “{token.name}” created. Copy it now: it is not shown again.")
                return self.page(new_api_token=secret)
        return self.page(status=400, api_token_form=form)


class ApiTokenRevokeView(SecurityActionView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        token = get_object_or_404(ApiToken, pk=pk, user=self.user)
        api_token_revoke(token, actor=self.user)
        messages.success(request, f"API token “{token.name}” revoked.")
        return redirect("accounts:security")


class PasswordChangeView(SecurityActionView):
    def post(self, request: HttpRequest) -> HttpResponse:
        form = CurrentPasswordChangeForm(self.user, request.POST)
        if not form.is_valid():
            return self.page(status=400, password_form=form)
        user = password_set(self.user, password=form.cleaned_data["new_password1"], action=Action.PASSWORD_CHANGED)
        # Keeps this session (and its verified device) signed in; every other session ends.
        update_session_auth_hash(request, user)
        messages.success(request, "Your password was changed.")
        return redirect("accounts:security")


HOUR = datetime.timedelta(hours=1)
TOO_MANY_RESETS = "Too many password reset requests came from your network. Try again in an hour."


class RedirectThenRun(HttpResponseRedirect):
    """
    A redirect that runs `work` once it has been sent: the server calls close() after the
    last byte went out (WSGI). A failure is logged; the visitor already has their answer.
    """

    def __init__(self, redirect_to: str, work: Callable[[], object]) -> None:
        super().__init__(redirect_to)
        self.work = work

    def close(self) -> None:
        try:
            self.work()
        except Exception:  # The response is gone: nothing but the log can still hear of it.
            logger.exception("Work after the response failed")
        finally:
            super().close()


class PasswordResetView(auth_views.PasswordResetView):
    """
    Django's reset form, with limits so that it cannot be used to flood a mailbox or the
    mail server: PASSWORD_RESET_REQUESTS_PER_HOUR per client address (then 429), and
    PASSWORD_RESET_MAILS_PER_ADDRESS_PER_HOUR per e-mail address. Past the second, the
    page answers exactly as when a mail is sent, so it tells nobody which addresses
    have accounts; it only sends nothing.
    """

    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if counted(f"password-reset:client:{client_ip(request)}", window=HOUR) > settings.PASSWORD_RESET_REQUESTS_PER_HOUR:
            logger.warning("Password reset refused: too many requests from this client")
            form = self.get_form()
            form.add_error(None, TOO_MANY_RESETS)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        """
        The mail is sent only after the response has gone out: sending takes long, and only
        for addresses with an account, so a page that waited for it would tell who has one.
        """
        address = hashlib.sha256(form.cleaned_data["email"].strip().lower().encode()).hexdigest()
        if counted(f"password-reset:address:{address}", window=HOUR) > settings.PASSWORD_RESET_MAILS_PER_ADDRESS_PER_HOUR:
            logger.warning("Password reset mail not sent: too many for this address this hour")
            return HttpResponseRedirect(self.get_success_url())
        options = {
            "use_https": self.request.is_secure(), "token_generator": self.token_generator,
            "from_email": self.from_email, "email_template_name": self.email_template_name,
            "subject_template_name": self.subject_template_name, "request": self.request,
            "html_email_template_name": self.html_email_template_name, "extra_email_context": self.extra_email_context,
        }
        return RedirectThenRun(self.get_success_url(), partial(form.save, **options))


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        """Django's view saves the form; ours goes through the service so the reset is audited and notified."""
        password_set(form.user, password=form.cleaned_data["new_password1"], action=Action.PASSWORD_RESET)
        del self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
        return redirect(self.get_success_url())


class PreferencesView(LoginRequiredMixin, FormView):
    """The signed-in user's own time zone and e-mail choices, at /accounts/preferences/."""

    template_name = "accounts/preferences.html"
    form_class = PreferencesForm
    success_url = reverse_lazy("accounts:preferences")

    def get_form_kwargs(self) -> dict[str, Any]:
        # A ModelForm writes its values onto its instance while validating; giving it a
        # copy leaves the real user untouched, so the service sees what really changed.
        return {**super().get_form_kwargs(), "instance": copy.copy(request_user(self.request))}

    def form_valid(self, form: PreferencesForm) -> HttpResponse:
        user = request_user(self.request)
        user_preferences_update(user, actor=user, **form.cleaned_data)
        messages.success(self.request, "Your preferences are saved.")
        return super().form_valid(form)
