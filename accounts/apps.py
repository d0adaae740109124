from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"


class SecureAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with `admin.site` replaced by the two-factor admin site."""

    default = False
    default_site = "accounts.admin_site.SecureAdminSite"
