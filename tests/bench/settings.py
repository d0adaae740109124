"""
The product's own settings (production defaults, from the environment) plus what the
benchmark needs: its URL configuration, which adds the floor view, and a middleware that
reports how many queries each request ran. Its few signed-in reporters stand for the
many of a real site, so the per-person report limit is lifted: the benchmark's writers
file a report every few seconds, which the product would rightly refuse from one person
(429) after 30 an hour.
"""
from incident_tracker.settings import *  # noqa: F401,F403 (everything, unchanged, is the point)
from incident_tracker.settings import MIDDLEWARE

ROOT_URLCONF = "tests.bench.urls"
MIDDLEWARE = ["tests.bench.middleware.query_count_header", *MIDDLEWARE]
INCIDENT_REPORTS_PER_HOUR = 1_000_000
