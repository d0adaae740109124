"""WSGI entry point used by gunicorn (`gunicorn -c gunicorn.conf.py`)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incident_tracker.settings")

application = get_wsgi_application()

# Only a web server imports this module, so manage.py migrate, makemigrations and the
# tests never run the check.
from incident_tracker.health import log_unapplied_migrations  # noqa: E402 (needs the configured application)

log_unapplied_migrations()
