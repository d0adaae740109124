"""
How an event reads in a chat channel. The three formats are small JSON documents, written
here rather than through a notification library, so that every message goes out through
transport.post_json: the address check at send time, no redirects, and the status code in
the delivery log.
"""
from __future__ import annotations

import re
from typing import Any

from .models import Event, Format

MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~])")


def _facts(incident: dict[str, Any]) -> list[tuple[str, str]]:
    assignee = incident.get("assignee")
    return [("Severity", incident["severity_label"]), ("Status", incident["status_label"]),
            ("Assignee", assignee["name"] if assignee else "nobody")]


def _headline(event: dict[str, Any]) -> str:
    incident = event["data"]["incident"]
    label = Event(event["type"]).label if event["type"] in Event.values else event["type"]
    return f"Incident #{incident['id']} {label}: {incident['title']}"


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _markdown_escape(text: str) -> str:
    return MARKDOWN_SPECIALS.sub(r"\\\1", text)


def slack(event: dict[str, Any]) -> dict[str, Any]:
    incident = event["data"]["incident"]
    facts = " · ".join(f"*{name}:* {_slack_escape(value)}" for name, value in _facts(incident))
    headline = _slack_escape(_headline(event))
    return {
        "text": headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{incident['url']}|{headline}>*\n{facts}"}},
        ],
    }


def mattermost(event: dict[str, Any]) -> dict[str, Any]:
    incident = event["data"]["incident"]
    facts = " · ".join(f"**{name}:** {_markdown_escape(value)}" for name, value in _facts(incident))
    return {"text": f"**[{_markdown_escape(_headline(event))}]({incident['url']})**\n{facts}"}


def teams(event: dict[str, Any]) -> dict[str, Any]:
    """An Adaptive Card, as a Teams Workflows ("Post to a channel when a webhook request is received") expects."""
    incident = event["data"]["incident"]
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": _headline(event), "weight": "Bolder", "wrap": True},
            {"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in _facts(incident)]},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "Open the incident", "url": incident["url"]}],
    }
    return {"type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}


CHAT_FORMATS = {Format.SLACK: slack, Format.MATTERMOST: mattermost, Format.TEAMS: teams}
