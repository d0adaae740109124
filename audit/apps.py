from importlib import import_module

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        """Connect the receivers that record sign-in, sign-out and lockout."""
        import_module(f"{self.name}.signals")
