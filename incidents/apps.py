from typing import Any

from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_migrate


def create_cache_table(**kwargs: Any) -> None:
    """
    The database cache's table (settings.CACHES without REDIS_URL) is made by `migrate`,
    so a deployment needs no third command; `createcachetable` leaves an existing table,
    and a Redis cache, alone.
    """
    call_command("createcachetable", database=kwargs.get("using", "default"), verbosity=0)


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        post_migrate.connect(create_cache_table, sender=self, dispatch_uid="incidents.create_cache_table")
