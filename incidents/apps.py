from django.apps import AppConfig
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        """A category or user saved or deleted anywhere (services, admin, shell) refreshes the names lists show."""
        from .names import forget_names
        from .models import Category

        for model in (Category, get_user_model()):
            for event, signal in (("saved", post_save), ("deleted", post_delete)):
                signal.connect(forget_names, sender=model, dispatch_uid=f"names:{model.__name__}:{event}")
