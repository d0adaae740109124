from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.admin import ReadOnlyAdmin, register_target_models

from .models import ApiToken, BackupCodeDevice, User
from .services import (
    api_token_revoke, enrolment_link_issue, second_factor_remove, user_delete, user_password_replaced, user_save,
)
from .types import request_user

register_target_models(User)

# django-otp's own admins let staff create a confirmed authenticator with a key of their
# choosing, or plain-text backup codes, for anyone, with no audit row and no mail. A
# second factor is set up by its owner (the security page, an enrolment link) and
# removed through the audited reset action on users; here it can only be looked at.
admin.site.unregister(TOTPDevice)
admin.site.unregister(StaticDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(ReadOnlyAdmin):
    """Who has an authenticator app, and whether it is confirmed; never its key."""

    list_display = ("user", "name", "confirmed", "last_used_at")
    list_select_related = ("user",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    readonly_fields = fields
    search_fields = ("user__username",)


@admin.register(BackupCodeDevice)
class BackupCodeDeviceAdmin(ReadOnlyAdmin):
    """
    Who has backup codes and how many are left. The codes exist only as hashes, so there
    is nothing to show; removing them goes through the audited reset action on users.
    """

    list_display = ("user", "name", "confirmed", "codes_left", "last_used_at")
    list_select_related = ("user",)
    fields = ("user", "name", "confirmed", "codes_left", "created_at", "last_used_at")
    readonly_fields = fields
    search_fields = ("user__username",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[BackupCodeDevice]:
        return super().get_queryset(request).annotate(left=Count("codes"))

    @admin.display(description="Codes left", ordering="left")
    def codes_left(self, device: BackupCodeDevice) -> int:
        return int(getattr(device, "left", 0))


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_superuser", "is_active",
                    "has_second_factor", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("username", "email", "first_name", "last_name")
    show_full_result_count = False
    actions = ["reset_second_factor", "send_enrolment_link"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        confirmed = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(second_factor=Exists(confirmed))

    @admin.display(boolean=True, description="Two-factor", ordering="second_factor")
    def has_second_factor(self, user: User) -> bool:
        return bool(getattr(user, "second_factor", False))

    @admin.action(description="Reset two-factor sign-in of selected users (lost phone)", permissions=["change"])
    def reset_second_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        """Removes every device; the user signs in with the password alone (staff must enrol again at once)."""
        actor = request_user(request)
        for user in queryset:
            second_factor_remove(user, actor=actor)
        messages.success(request, f"Two-factor sign-in reset for {len(queryset)} user(s); each was told by e-mail.")

    @admin.action(description="E-mail a two-factor enrolment link to selected users", permissions=["change"])
    def send_enrolment_link(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        """
        Staff set up an authenticator only through such a link; it goes to the address
        on the account, never to the administrator, who would otherwise hold the means
        to enrol in someone else's name.
        """
        actor = request_user(request)
        without_address = [user.get_username() for user in queryset if not user.email]
        sent = [user for user in queryset if user.email]
        for user in sent:
            enrolment_link_issue(user, actor=actor)
        if sent:
            messages.success(request, f"Enrolment link e-mailed to {len(sent)} user(s).")
        if without_address:
            messages.warning(request, "No e-mail address, so no link for: " + ", ".join(without_address)
                             + ". Add an address, or have an operator run manage.py enrolment_link USERNAME.")

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        """
        Through the service, with groups and permissions, so one audit row lists every
        field that changed (Django's save_related then finds the groups already set).
        """
        user_save(obj, actor=request_user(request), groups=form.cleaned_data.get("groups"),
                  user_permissions=form.cleaned_data.get("user_permissions"))

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        user_delete(obj, actor=request_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor = request_user(request)
        for user in queryset:
            user_delete(user, actor=actor)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        """
        Django's view stores the new password itself; it runs here in one transaction
        with the audit row, which is written only when the stored password really changed.
        """
        with transaction.atomic():
            user = self.get_object(request, unquote(id))
            response = super().user_change_password(request, id, form_url)
            if user is not None and User.objects.filter(pk=user.pk).exclude(password=user.password).exists():
                user_password_replaced(user, actor=request_user(request))
        return response


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """
    Every personal API token, to find and revoke one that leaked. The secret is never
    here (only its first characters); tokens are made by their owners on the security page.
    """

    list_display = ("name", "user", "prefix", "scope", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter))
    list_select_related = ("user",)
    search_fields = ("name", "user__username", "prefix")
    fields = list_display
    readonly_fields = list_display
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["view"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        actor = request_user(request)
        for token in queryset:
            api_token_revoke(token, actor=actor)
        messages.success(request, f"{len(queryset)} token(s) revoked.")
