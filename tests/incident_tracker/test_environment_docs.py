"""
The one table of environment variables, in DEPLOYMENT.md, tells the truth: it names
exactly the variables settings.py and gunicorn.conf.py read, `.env.example` has the
same ones with the same defaults, the Render Blueprint sets none it does not know, and
no other page keeps a copy that could drift.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from .servers import BASE_DIR
from .test_deployment import RENDER_OWN_VARIABLES

# `env.str("NAME"`, `os.environ.get('NAME'`, `os.environ["NAME"]`, `"NAME" not in os.environ`...
# A name is capitals, digits and underscores (AWS_S3_REGION_NAME), starting with a capital.
NAME = r"[A-Z][A-Z0-9_]*"
READ = re.compile(rf"""env\.\w+\(\s*["']({NAME})["']|os\.environ(?:\.get\(|\.setdefault\(|\[)\s*["']({NAME})["']"""
                  rf"""|["']({NAME})["'] (?:not )?in os\.environ""")
ROW = re.compile(rf"^\| `({NAME})` \| ([^|]*) \|", re.MULTILINE)
# A default that is one plain value, perhaps with a note: "`60`", "`true` (`false` with `DEBUG`)".
PLAIN_DEFAULT = re.compile(r"^`([^`]*)`(?: \(.*\))?$")
EXAMPLE = re.compile(rf"^(# )?({NAME})=(.*)$", re.MULTILINE)


def section(text: str, heading: str) -> str:
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def deployment() -> str:
    return (BASE_DIR / "DEPLOYMENT.md").read_text()


@pytest.fixture(scope="module")
def table(deployment) -> dict[str, str]:
    """Each variable of the table with its Default cell."""
    return {name: default.strip() for name, default in ROW.findall(section(deployment, "Environment variables"))}


def test_the_table_names_exactly_the_variables_the_application_reads(table):
    read = set()
    for path in ("incident_tracker/settings.py", "gunicorn.conf.py"):
        read |= {next(filter(None, match.groups())) for match in READ.finditer((BASE_DIR / path).read_text())}
    assert sorted(read - set(table)) == [], "read but not documented"
    assert sorted(set(table) - read) == [], "documented but never read"


def test_env_example_has_every_variable_with_the_tables_default(table):
    lines = EXAMPLE.findall((BASE_DIR / ".env.example").read_text())
    examples = {name: (bool(commented), value) for commented, name, value in lines}
    assert len(examples) == len(lines), "a variable appears twice"
    assert sorted(examples) == sorted(table)
    for name, (commented, value) in examples.items():
        default = PLAIN_DEFAULT.match(table[name])
        if commented and default:
            assert value == default.group(1), f"{name}: .env.example shows {value!r}, the table {table[name]!r}"


def test_the_env_example_in_effect_is_a_development_set_up():
    """Copied to .env, the example starts the app with the development defaults and nothing else."""
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "incident_tracker.settings"}
    lines = EXAMPLE.findall((BASE_DIR / ".env.example").read_text())
    active = {name: value for commented, name, value in lines if not commented}
    assert active == {"DEBUG": "true"}
    shown = subprocess.run(
        [sys.executable, "-c", "import django; from django.conf import settings; django.setup(); print(settings.DEBUG)"],
        cwd=BASE_DIR, env={**env, **active}, capture_output=True, text=True,
    )
    assert shown.stdout.strip() == "True", shown.stderr


def test_the_blueprint_sets_only_documented_variables_including_the_mail_sender_and_site_address(table):
    blueprint = yaml.safe_load((BASE_DIR / "render.yaml").read_text())
    keys = {item["key"] for service in blueprint["services"] for item in service.get("envVars", [])}
    assert sorted(keys - RENDER_OWN_VARIABLES - set(table)) == []
    assert {"SITE_URL", "DEFAULT_FROM_EMAIL"} <= keys


@pytest.mark.parametrize("steps", ["On Render", "On any Linux host (gunicorn behind nginx)"])
def test_each_deployment_path_asks_for_the_site_address_and_the_mail_sender(deployment, steps):
    text = section(deployment, steps)
    assert "SITE_URL" in text and "DEFAULT_FROM_EMAIL" in text


def test_no_other_page_keeps_a_copy_of_the_table(table):
    copies = [
        f"{page.relative_to(BASE_DIR)}: {name}"
        for pattern in ("*.md", "*/README.md", "docs/*.md", ".github/*.md")
        for page in BASE_DIR.glob(pattern) if page.name != "DEPLOYMENT.md"
        for name, _ in ROW.findall(page.read_text()) if name in table
    ]
    assert copies == []
    assert "DEPLOYMENT.md#environment-variables" in (BASE_DIR / "README.md").read_text()
