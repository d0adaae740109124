from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_delete, post_save


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        """A user or second-factor device saved or deleted anywhere: every worker reads it again."""
        from django_otp.plugins.otp_static.models import StaticDevice
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from .models import User
        from .signed_in import forget_signed_in_rows

        for model in (User, TOTPDevice, StaticDevice):
            for event, signal in (("saved", post_save), ("deleted", post_delete)):
                signal.connect(forget_signed_in_rows, sender=model,
                               dispatch_uid=f"forget_signed_in_rows:{model.__name__}:{event}")


class SecureAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with `admin.site` replaced by the two-factor admin site."""

    default = False
    default_site = "accounts.admin_site.SecureAdminSite"
