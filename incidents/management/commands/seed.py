from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django_otp import user_has_device

from accounts.models import User
from accounts.services import enrolment_link_issue, enrolment_link_url
from incidents import caching, notifications
from incidents.models import Category, Incident, Severity
from incidents.seeding import SeedPlan, seed_incidents
from incidents.services import category_save, comment_add, incident_create, incident_transition, incident_update
from incidents.workflow import Status, path_to

CATEGORIES = {
    "Network": "Connectivity, DNS, VPN, firewalls.",
    "Hardware": "Laptops, servers, printers, peripherals.",
    "Software": "Applications, licences, updates.",
    "Access": "Accounts, permissions, passwords.",
    "Security": "Phishing, malware, suspicious activity.",
    "Facilities": "Power, cooling, building systems.",
}
RESPONDERS_GROUP = "Responders"
RESPONDER_PERMISSIONS = ["view_incident", "change_incident", "view_comment", "view_category", "view_attachment",
                         "add_attachment", "delete_attachment",
                         # Webhook and chat subscriptions, and the delivery log with "retry now".
                         "view_subscription", "add_subscription", "change_subscription", "delete_subscription",
                         "view_delivery"]

DEMO_PASSWORD = "demo-password-2026"
DEMO_USERS = [
    # username, first name, is_staff, is_superuser
    ("reporter", "Riley Reporter", False, False),
    ("responder", "Robin Responder", True, False),
    ("admin", "Alex Admin", True, True),
]
DEMO_TITLES = [
    "VPN drops every few minutes", "Printer on floor 3 jams", "Cannot sign in to payroll", "Email delayed by an hour",
    "Disk almost full on build server", "Suspicious login alert", "Wi-Fi slow in meeting rooms",
    "Laptop will not boot", "Shared drive permissions wrong", "Air conditioning failed in server room",
    "Phishing email reported", "Database backups failing", "Website returns 502 errors", "Password reset link expired",
]


class Command(BaseCommand):
    help = (
        "Create reference data (categories, the responders group); idempotent. "
        "With --demo also demo users and incidents in every status; with --incidents N, N generated "
        "incidents in bulk (and --comments M comments) for load tests."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--demo", action="store_true", help="Also create demo users and incidents.")
        parser.add_argument("--force", action="store_true", help="Allow --demo with DEBUG off (never in production).")
        parser.add_argument("--demo-incidents", type=int, default=36, help="How many demo incidents (default 36).")
        parser.add_argument("--incidents", type=int, default=0, metavar="N",
                            help="Also generate N realistic incidents over two years, in bulk (for load tests).")
        parser.add_argument("--comments", type=int, default=0, metavar="M",
                            help="With --incidents: M comments spread over them.")
        parser.add_argument("--batch-size", type=int, default=SeedPlan.batch_size,
                            help=f"Incidents per transaction with --incidents (default {SeedPlan.batch_size:,}).")

    def handle(self, *args: Any, demo: bool, force: bool, demo_incidents: int, incidents: int, comments: int,
               batch_size: int, **options: Any) -> None:
        if min(incidents, comments) < 0 or batch_size < 1:
            raise CommandError("--incidents and --comments cannot be negative, and --batch-size must be at least 1.")
        if comments and not incidents:
            raise CommandError("--comments needs --incidents: comments are spread over the generated incidents.")
        if demo and not settings.DEBUG and not force:
            raise CommandError(
                "Refusing to create demo users with known passwords while DEBUG is off; add --force if you mean it."
            )
        with transaction.atomic():
            self.seed_reference_data()
        self.stdout.write(
            self.style.SUCCESS(f"Reference data ready: {len(CATEGORIES)} categories, group “{RESPONDERS_GROUP}”.")
        )
        if demo:
            users = self.seed_demo_users()
            if not Incident.objects.exists():
                # Dozens of made-up incidents would otherwise mail (or, in development, print) a notification each.
                with notifications.suppressed():
                    self.seed_demo_incidents(users, demo_incidents)
            self.stdout.write(self.style.SUCCESS("Demo sign-ins (password for all: %s):" % DEMO_PASSWORD))
            for username, _name, is_staff, is_superuser in DEMO_USERS:
                role = "administrator" if is_superuser else "responder" if is_staff else "reporter"
                self.stdout.write(f"  {role:<14} {username} / {DEMO_PASSWORD}")
                if is_staff and not user_has_device(users[username], confirmed=True):
                    # Staff enrol only through a one-time link; demo accounts get theirs printed here.
                    token = enrolment_link_issue(users[username], actor=None, mail=False)
                    self.stdout.write(f"  {'':<14} then open {enrolment_link_url(token)} to set up two-factor sign-in")
        if incidents:
            self.seed_bulk(SeedPlan(incidents=incidents, comments=comments, batch_size=batch_size))

    def seed_bulk(self, plan: SeedPlan) -> None:
        started = time.monotonic()
        interactive = self.stdout.isatty()
        reported = [0]

        def progress(done: int, total: int) -> None:
            """A bar redrawn in place on a terminal; a line per tenth in a log."""
            tenth = done * 10 // total
            if not interactive and tenth == reported[0] and done < total:
                return
            reported[0] = tenth
            rate = done / max(time.monotonic() - started, 1e-6)
            bar = "#" * (done * 30 // total)
            line = f"[{bar:<30}] {done:,}/{total:,} incidents ({rate:,.0f}/s)"
            self.stdout.write(f"\r{line}" if interactive else line, ending="" if interactive else "\n")
            self.stdout.flush()

        def announce(message: str) -> None:
            self.stdout.write(f"\n{message}" if interactive else message)

        seed_incidents(plan, progress=progress, announce=announce)
        self.stdout.write(self.style.SUCCESS(
            f"Generated {plan.incidents:,} incidents and {plan.comments:,} comments "
            f"in {time.monotonic() - started:.1f} s."
        ))

    def seed_reference_data(self) -> None:
        for name, description in CATEGORIES.items():
            if not Category.objects.filter(name__iexact=name).exists():
                category_save(Category(name=name, description=description), actor=None)
        group, _ = Group.objects.get_or_create(name=RESPONDERS_GROUP)
        group.permissions.add(*Permission.objects.filter(codename__in=RESPONDER_PERMISSIONS))

    def seed_demo_users(self) -> dict[str, User]:
        users = {}
        responders = Group.objects.get(name=RESPONDERS_GROUP)
        for username, full_name, is_staff, is_superuser in DEMO_USERS:
            first_name, last_name = full_name.split(" ", 1)
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first_name, "last_name": last_name, "email": f"{username}@example.com",
                          "is_staff": is_staff, "is_superuser": is_superuser},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                if is_staff:
                    user.groups.add(responders)
            users[username] = user
        return users

    def seed_demo_incidents(self, users: dict[str, User], count: int) -> None:
        """Incidents spread over the last weeks, in every status, through the real services."""
        chooser = random.Random(2026)
        categories = list(Category.objects.all())
        statuses = list(Status.values)
        for number in range(count):
            incident, _ = incident_create(
                reporter=users["reporter"] if number % 3 else users["admin"],
                title=DEMO_TITLES[number % len(DEMO_TITLES)],
                description="<p>Seen since this morning. Steps to reproduce are in the attached notes.</p>",
                severity=chooser.choice(Severity.values),
                category=chooser.choice(categories),
            )
            reported_at = timezone.now() - timedelta(hours=chooser.randint(1, 24 * 30))
            Incident.objects.filter(pk=incident.pk).update(created_at=reported_at)
            caching.incidents_changed()
            target = statuses[number % len(statuses)]
            if target != Status.OPEN:
                incident = incident_update(incident, actor=users["responder"], expected_version=incident.version,
                                           assignee=users["responder"])
                comment_add(incident, author=users["responder"], body="Looking into it.")
                for transition in path_to(incident.status, target):
                    incident = incident_transition(incident, actor=users["responder"], name=transition.name)
        self.stdout.write(f"Created {count} demo incidents.")
