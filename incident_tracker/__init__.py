"""The Incident Tracker project package."""

# The one place the release number lives: /readyz, the page footer and CHANGELOG.md's
# newest heading show it; tags are `v` + this value.
__version__ = "0.1.0"
