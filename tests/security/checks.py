"""What 'executable' means, checked on stored values and on whole rendered pages."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from .payloads import EXECUTABLE_TAGS

URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "xlink:href", "data", "background", "poster", "srcset"})
# Browsers ignore ASCII whitespace and control characters inside a scheme ("java\tscript:").
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20]")
_DANGEROUS_SCHEME = re.compile(r"^(javascript|vbscript|data|livescript):", re.IGNORECASE)
# Tags our own pages use; anything else appearing in a page came from user input.
PAGE_ONLY_FRAMES = frozenset({"iframe", "object", "embed", "frame", "frameset", "applet", "base"})


def dangerous_url(value: str) -> bool:
    return bool(_DANGEROUS_SCHEME.match(_IGNORED_IN_SCHEME.sub("", value)))


class _Collector(HTMLParser):
    def __init__(self, *, page: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name.lower(): value or "" for name, value in attrs}
        for name, value in attributes.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> event handler")
            if name in URL_ATTRIBUTES and dangerous_url(value):
                self.problems.append(f"<{tag} {name}={value!r}> script URL")
            if name in ("srcdoc", "style"):
                self.problems.append(f"<{tag} {name}=...>")
        if self.page:
            self._check_page_tag(tag, attributes)
        elif tag in EXECUTABLE_TAGS:
            self.problems.append(f"<{tag}> in stored text")

    def _check_page_tag(self, tag: str, attributes: dict[str, str]) -> None:
        if tag in PAGE_ONLY_FRAMES:
            self.problems.append(f"<{tag}> in page")
        elif tag == "script":
            src = attributes.get("src", "")
            data_only = attributes.get("type") == "application/json"
            if not data_only and not (src.startswith("/") and not src.startswith("//")):
                self.problems.append(f"<script src={src!r}> not served by this site")
        elif tag == "meta" and attributes.get("http-equiv", "").lower() == "refresh":
            self.problems.append("<meta http-equiv=refresh>")
        elif tag == "style":
            self.problems.append(f"<{tag}> in page")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def stored_problems(value: str) -> list[str]:
    """Markup in a stored value that a browser would run, or any tag that may not be there."""
    collector = _Collector(page=False)
    collector.feed(value)
    collector.close()
    return collector.problems


def page_problems(html: str) -> list[str]:
    """Anything in a rendered page that runs script or frames content not served by the site."""
    collector = _Collector(page=True)
    collector.feed(html)
    collector.close()
    return collector.problems
