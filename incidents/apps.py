from django.apps import AppConfig
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        """
        A category or user saved or deleted anywhere (services, admin, shell) refreshes
        the names lists show; an incident, comment, category or user, the results and pages
        kept until a write.
        """
        from .models import Category, Comment, Incident
        from .names import forget_names
        from .kept import forget_kept_results

        # Kept pages name reporters, commenters and categories: a renamed one replaces them too.
        receivers = ((forget_names, (Category, get_user_model())),
                     (forget_kept_results, (Incident, Comment, Category, get_user_model())))
        for receiver, models in receivers:
            for model in models:
                for event, signal in (("saved", post_save), ("deleted", post_delete)):
                    signal.connect(receiver, sender=model, dispatch_uid=f"{receiver.__name__}:{model.__name__}:{event}")
