"""
What user text may keep: a safe subset of HTML in rich text, no markup in plain text; cleaning twice changes
nothing. What a CSV cell may start with: nothing a spreadsheet runs as a formula.
"""
from __future__ import annotations

import threading

import pytest

from common.text import clean_plain_text, clean_rich_text, neutralise


def test_rich_text_keeps_formatting_and_makes_links_safe():
    cleaned = clean_rich_text('<p><b>Down</b> see <a href="https://status.example.com" onclick="x()">status</a></p>')
    assert cleaned == '<p><b>Down</b> see <a href="https://status.example.com" rel="nofollow noopener">status</a></p>'


def test_rich_text_turns_bare_addresses_into_safe_links_but_not_inside_code():
    assert clean_rich_text("see https://status.example.com") == (
        'see <a href="https://status.example.com" rel="nofollow noopener">https://status.example.com</a>')
    assert clean_rich_text("<code>https://internal</code>") == "<code>https://internal</code>"


@pytest.mark.parametrize(
    "payload",
    ['<a href="javascript:alert(1)">x</a>', '<img src=x onerror="alert(1)">', "<svg onload=alert(1)>",
     "<script>alert(1)</script>", '<iframe src="https://evil.example"></iframe>', "<!-- <script> -->"],
)
def test_rich_text_removes_everything_that_could_run(payload):
    cleaned = clean_rich_text(payload)
    for marker in ("javascript:", "onerror", "onload", "<script", "<iframe", "<img", "<svg", "<!--"):
        assert marker not in cleaned


@pytest.mark.parametrize(
    "value",
    ["<p>Plain</p>", 'A <a href="https://x.example">link</a> and https://y.example', "Tom &amp; Jerry <em>now</em>"],
)
def test_cleaning_rich_text_again_changes_nothing(value):
    once = clean_rich_text(value)
    assert clean_rich_text(once) == once


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<b>Disk</b>   full", "Disk full"),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "alert(1)"),
        ("&amp;lt;b&amp;gt;hidden&amp;lt;/b&amp;gt;", "hidden"),
        ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
        ("", ""),
    ],
)
def test_plain_text_keeps_no_markup_even_behind_entities(value, expected):
    assert clean_plain_text(value) == expected
    assert clean_plain_text(expected) == expected


def test_rich_text_cleaning_is_safe_from_several_threads_at_once():
    """gunicorn's threaded workers render pages concurrently; a shared parser once failed with IndexError."""
    text = "<p>Disk <strong>full</strong> on <a href='https://example.com'>build</a></p>" * 20
    expected = clean_rich_text(text)
    start = threading.Barrier(8)
    errors: list[BaseException] = []
    results: list[str] = []

    def work() -> None:
        start.wait()
        try:
            results.extend(clean_rich_text(text) for _ in range(40))
        except Exception as error:  # any failure is what this test looks for
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert set(results) == {expected}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=HYPERLINK(\"http://evil.example\",\"click\")", "'=HYPERLINK(\"http://evil.example\",\"click\")"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("Printer jam", "Printer jam"),
        ("Mail 2+2=4", "Mail 2+2=4"),
    ],
)
def test_formula_like_values_are_neutralised(value, expected):
    assert neutralise(value) == expected
