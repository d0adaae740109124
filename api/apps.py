from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API and alert ingestion"

    def ready(self) -> None:
        # Registers the schema's descriptions of this app's authentication classes.
        from . import schema  # noqa: F401
