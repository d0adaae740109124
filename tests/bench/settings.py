"""
The product's own settings (production defaults, from the environment) plus what the
benchmark needs: its URL configuration, which adds the floor view, and a middleware that
reports how many queries each request ran.
"""
from incident_tracker.settings import *  # noqa: F401,F403 (everything, unchanged, is the point)
from incident_tracker.settings import MIDDLEWARE

ROOT_URLCONF = "tests.bench.urls"
MIDDLEWARE = ["tests.bench.middleware.query_count_header", *MIDDLEWARE]
