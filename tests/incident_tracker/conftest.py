from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .servers import BASE_DIR


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """The static files as `collectstatic` makes them for production: gunicorn with DEBUG off serves only those."""
    root = tmp_path_factory.mktemp("staticfiles")
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=BASE_DIR, check=True,
                   env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "collectstatic-only", "STATIC_ROOT": str(root)})
    return root
