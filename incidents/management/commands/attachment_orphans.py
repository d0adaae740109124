"""
`manage.py attachment_orphans [--remove] [--min-age-minutes N]`: the files in the
attachment folder of the storage that no Attachment row names. A submission that
failed removes its own files (incidents.attachments.removed_on_failure); what is left
comes from a process killed mid-upload or a transaction rolled back around the
service. Files younger than --min-age-minutes are left alone: their upload may still
be committing.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from incidents.attachments import FOLDER, discard
from incidents.models import Attachment

BATCH = 1000


class Command(BaseCommand):
    help = "List attachment files that no attachment refers to; with --remove, delete them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--remove", action="store_true", help="Delete the orphan files (default: only list them).")
        parser.add_argument("--min-age-minutes", type=int, default=60,
                            help="Ignore files younger than this (default 60): they may belong to an upload in progress.")

    def handle(self, *args: Any, remove: bool, min_age_minutes: int, **options: Any) -> None:
        orphans = self.orphans(older_than=timezone.now() - timedelta(minutes=min_age_minutes))
        for name in orphans:
            self.stdout.write(name)
        if remove:
            discard(orphans)
        verb = "removed" if remove else "found (run with --remove to delete them)"
        self.stdout.write(self.style.SUCCESS(f"{len(orphans)} orphan file(s) {verb}."))

    def orphans(self, *, older_than: Any) -> list[str]:
        try:
            names = [f"{FOLDER}/{file}" for file in default_storage.listdir(FOLDER)[1]]
        except FileNotFoundError:  # no file was ever stored on this filesystem
            return []
        found = []
        for start in range(0, len(names), BATCH):
            batch = names[start:start + BATCH]
            known = set(Attachment.objects.filter(stored_name__in=batch).values_list("stored_name", flat=True))
            found += [name for name in batch
                      if name not in known and default_storage.get_modified_time(name) < older_than]
        return found
