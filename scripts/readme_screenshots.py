"""
Take the README's screenshots (docs/screenshots/*.png) with Playwright and the system
Chromium, on a throw-away SQLite database filled by `manage.py seed --demo`.

    .venv/bin/python scripts/readme_screenshots.py

Nothing outside docs/screenshots/ and a temporary folder is touched.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "screenshots"
# A fixed, throw-away authenticator secret for the demo responder of this run only.
TOTP_KEY = "3132333435363738393031323334353637383930"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def prepare_database() -> str:
    """Seed the demo data, add a little life to one incident, and return its URL."""
    from django.core.management import call_command
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import User
    from incidents.models import Incident, Severity
    from incidents.services import comment_add, incident_create, incident_transition, incident_update

    call_command("migrate", verbosity=0)
    call_command("seed", "--demo", verbosity=0)
    responder, reporter = User.objects.get(username="responder"), User.objects.get(username="reporter")
    TOTPDevice.objects.create(user=responder, name="Authenticator app", confirmed=True, key=TOTP_KEY)
    incident, _ = incident_create(
        reporter=reporter, title="Payroll site answers 502 Bad Gateway", severity=Severity.SEV1,
        description="<p>Since 08:40 nobody on floor 2 can open the payroll site; it answers 502.</p>",
    )
    incident = incident_update(incident, actor=responder, expected_version=incident.version, assignee=responder)
    incident = incident_transition(incident, actor=responder, name="start")
    comment_add(incident, author=responder, body="<p>We are restarting the payroll application servers.</p>")
    comment_add(incident, author=responder, internal=True,
                body="<p>Connection pool exhausted by the nightly export; raised the limit to 200.</p>")
    comment_add(incident, author=reporter, body="<p>Thanks, the team can log in again.</p>")
    return Incident.objects.get(pk=incident.pk).get_absolute_url()


def take(base_url: str, incident_url: str) -> None:
    from django_otp.oath import totp
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=base_url, viewport={"width": 1280, "height": 860})
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("responder")
        page.get_by_label("Password").fill("demo-password-2026")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_label("Code").fill(f"{totp(bytes.fromhex(TOTP_KEY)):06d}")
        page.get_by_role("button", name="Verify").click()
        page.get_by_role("heading", name="Dashboard", level=1).wait_for()
        shots = {"dashboard": "/", "incidents": "/incidents/?status=in_progress&sort=severity", "incident": incident_url}
        for name, path in shots.items():
            page.goto(path)
            page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=name != "incidents")
            print(f"{OUTPUT / f'{name}.png'}: {(OUTPUT / f'{name}.png').stat().st_size // 1024} KB")
        browser.close()


def main() -> None:
    workdir = tempfile.mkdtemp(prefix="readme-screenshots-")
    os.environ.update(DEBUG="true", DATABASE_URL=f"sqlite:///{workdir}/demo.sqlite3",
                      EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend", LOG_LEVEL="WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incident_tracker.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    incident_url = prepare_database()
    server = LiveServerThread("localhost", StaticFilesHandler)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    OUTPUT.mkdir(parents=True, exist_ok=True)
    try:
        take(f"http://localhost:{server.port}", incident_url)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
