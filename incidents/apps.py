from django.apps import AppConfig
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        """A category or user saved or deleted anywhere (services, admin, shell) refreshes the list's filters."""
        from .forms import forget_filter_choices
        from .models import Category

        for model in (Category, get_user_model()):
            for event, signal in (("saved", post_save), ("deleted", post_delete)):
                signal.connect(forget_filter_choices, sender=model, dispatch_uid=f"filter-choices:{model.__name__}:{event}")
