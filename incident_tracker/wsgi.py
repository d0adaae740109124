"""WSGI entry point used by gunicorn (`gunicorn incident_tracker.wsgi`)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incident_tracker.settings")

application = get_wsgi_application()
