from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import User
from .services import second_factor_remove
from .types import request_user


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_superuser", "is_active",
                    "has_second_factor", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("username", "email", "first_name", "last_name")
    show_full_result_count = False
    actions = ["reset_second_factor"]

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
