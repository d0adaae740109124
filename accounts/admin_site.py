"""
The admin site, installed as `admin.site` by accounts.apps.SecureAdminConfig: django-otp's
OTPAdminSite, so only staff whose session a device has verified get in. Signing in
and changing a password happen on the product's own pages, which do the two steps,
the throttling, the audit and the e-mail; the admin's copies would skip them.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp.admin import OTPAdminSite


class SecureAdminSite(OTPAdminSite):
    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if self.has_permission(request):
            return redirect("admin:index")
        if request.user.is_authenticated:
            # Signed in but not allowed in: the product's sign-in page would only send them back here.
            raise PermissionDenied("The administration is for staff with a verified second factor.")
        return redirect_to_login(request.GET.get("next") or reverse("admin:index"))

    def password_change(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return redirect("accounts:security")
