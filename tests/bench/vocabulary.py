"""
The words the benchmarks search for: wider than the seed's, as real searches are.

A third are the seeded text's words (incidents/seeding.py), common and less common; a
third are numbers, which the seeded text holds rarely (incident numbers, floors, error
codes: a few hundred matches per million incidents) or not at all; a third are words of
an IT team's vocabulary that the seed never writes, so a search finds nothing.
"""
from __future__ import annotations

import random

ABSENT = (
    "kubernetes", "terraform", "kerberos", "ldap", "nginx", "postfix", "sharepoint", "citrix", "jenkins", "grafana",
    "kafka", "redis", "elasticsearch", "ansible", "okta", "zendesk", "jira", "confluence", "tableau", "salesforce",
    "outlook", "teams", "zoom", "slack", "bitlocker", "intune", "autopilot", "raid", "nas", "san", "vmware",
    "hyperv", "docker", "helm", "istio", "envoy", "haproxy", "cloudflare", "akamai", "pagerduty",
)


def seeded_words() -> list[str]:
    """The words of the seeded titles, descriptions and comments (incidents/seeding.py)."""
    from incidents import seeding

    texts = [*seeding.SYSTEMS, *seeding.SYMPTOMS, *seeding.PLACES, *seeding.OPENINGS, *seeding.DETAILS,
             *seeding.COMMENTS, *seeding.TEAMS]
    words = {word.strip(".,:;!?'\"{}").lower() for text in texts for word in text.split()}
    return sorted(word for word in words if word.isalpha())


def search_text(draw: random.Random, seeded: list[str]) -> str:
    """A search of one or two words, each one of `seeded`, a number, or absent, with equal chances."""
    numbers = [str(number) for number in range(1, 1000)]
    return " ".join(draw.choice(draw.choice((seeded, numbers, ABSENT))) for _ in range(draw.randint(1, 2)))
