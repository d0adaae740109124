"""
How an event reads in a chat channel. The three formats are small JSON documents, written
here rather than through a notification library, so that every message goes out through
transport.post_json: the address check at send time, no redirects, and the status code in
the delivery log. An event first becomes a `Message` (what to say), then each format says
it its own way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .models import PAGE_EVENT, Event, Format

MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~])")
# Slack notifies a person named by member id (<@U0123ABCD>); a plain "@name" is only text there.
SLACK_MEMBER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


@dataclass(frozen=True)
class Message:
    headline: str
    url: str
    facts: list[tuple[str, str]]
    # Links beside the incident's own, as (title, url): "Acknowledge" on a page.
    actions: list[tuple[str, str]] = field(default_factory=list)
    # The chat handle of the person paged, mentioned so that a shared channel notifies them.
    mention: str = ""


def message(event: dict[str, Any]) -> Message:
    data = event["data"]
    if event["type"] == PAGE_EVENT:
        person = data["person"]
        return Message(headline=f"You are paged: {data['incident']['summary']}", url=data["incident"]["url"],
                       facts=[("Paged", person["name"]), ("Acknowledge", "stops the paging; the link works once")],
                       actions=[("Acknowledge", data["acknowledge_url"])], mention=person["chat_handle"])
    incident = data["incident"]
    label = Event(event["type"]).label if event["type"] in Event.values else event["type"]
    assignee = incident.get("assignee")
    return Message(headline=f"Incident #{incident['id']} {label}: {incident['title']}", url=incident["url"],
                   facts=[("Severity", incident["severity_label"]), ("Status", incident["status_label"]),
                          ("Assignee", assignee["name"] if assignee else "nobody")])


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _markdown_escape(text: str) -> str:
    return MARKDOWN_SPECIALS.sub(r"\\\1", text)


def _at(handle: str) -> str:
    return "@" + handle.removeprefix("@") + " " if handle else ""


def slack(event: dict[str, Any]) -> dict[str, Any]:
    said = message(event)
    mention = f"<@{said.mention}> " if SLACK_MEMBER_ID.fullmatch(said.mention) else _at(said.mention)
    headline = _slack_escape(said.headline)
    lines = [f"{mention}*<{said.url}|{headline}>*",
             " · ".join(f"*{name}:* {_slack_escape(value)}" for name, value in said.facts)]
    if said.actions:
        lines.append(" · ".join(f"<{url}|{_slack_escape(title)}>" for title, url in said.actions))
    return {"text": mention + headline, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]}


def mattermost(event: dict[str, Any]) -> dict[str, Any]:
    said = message(event)
    lines = [f"{_at(said.mention)}**[{_markdown_escape(said.headline)}]({said.url})**",
             " · ".join(f"**{name}:** {_markdown_escape(value)}" for name, value in said.facts)]
    if said.actions:
        lines.append(" · ".join(f"[{_markdown_escape(title)}]({url})" for title, url in said.actions))
    return {"text": "\n".join(lines)}


def teams(event: dict[str, Any]) -> dict[str, Any]:
    """An Adaptive Card, as a Teams Workflows ("Post to a channel when a webhook request is received") expects."""
    said = message(event)
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": _at(said.mention) + said.headline, "weight": "Bolder", "wrap": True},
            {"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in said.facts]},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": title, "url": url}
                    for title, url in [*said.actions, ("Open the incident", said.url)]],
    }
    return {"type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}


CHAT_FORMATS = {Format.SLACK: slack, Format.MATTERMOST: mattermost, Format.TEAMS: teams}
