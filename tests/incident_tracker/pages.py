"""
What a person reads on a page fetched from a real server: its text, its tables' rows
and its forms with the values they would submit, read with the standard library's
HTML parser so that tests assert on what is shown rather than on markup.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

# Fields a browser leaves out of a submission (buttons send only when clicked).
UNSENT_INPUTS = frozenset({"submit", "button", "image", "reset", "file"})
# Elements that a browser lays out apart from the text around them.
SEPARATE = frozenset({"p", "div", "li", "br", "td", "th", "tr", "dt", "dd", "h1", "h2", "h3", "h4", "option", "button",
                      "label", "caption", "section", "header", "footer", "nav", "article", "aside", "time"})


@dataclass
class Row:
    cells: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(self.cells)


@dataclass
class Table:
    caption: str = ""
    rows: list[Row] = field(default_factory=list)


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)

    def names(self) -> set[str]:
        return {name for name, _value in self.fields}

    def filled(self, **values: str) -> list[tuple[str, str]]:
        """The fields as the browser would send them, with `values` typed over the ones of the same name."""
        kept = [(name, value) for name, value in self.fields if name not in values]
        return kept + list(values.items())


@dataclass
class Page:
    text: str
    tables: list[Table]
    forms: list[Form]

    def rows_linking(self, href: str) -> list[Row]:
        return [row for table in self.tables for row in table.rows if href in row.links]

    def table(self, caption_start: str) -> Table | None:
        return next((table for table in self.tables if table.caption.startswith(caption_start)), None)

    def form(self, *, action: str | None = None, having: str | None = None) -> Form:
        """The POST form with this action, or the first one with a field named `having`."""
        for form in self.forms:
            if form.method == "post" and (action is None or form.action == action) and (
                    having is None or having in form.names()):
                return form
        raise LookupError(f"no POST form with action={action!r} having={having!r} on the page: {self.text[:300]}")


def words(text: str) -> str:
    return " ".join(text.split())


@dataclass
class _Select:
    name: str
    multiple: bool
    options: list[str] = field(default_factory=list)
    selected: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tables: list[Table] = []
        self.forms: list[Form] = []
        self._hidden = 0  # inside <script>, <style> or <template>: not shown
        self._table: Table | None = None
        self._row: Row | None = None
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self._form: Form | None = None
        self._select: _Select | None = None
        self._option: tuple[str | None, bool, list[str]] | None = None
        self._textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in SEPARATE:
            self.text.append(" ")
        if tag in ("script", "style", "template"):
            self._hidden += 1
        elif tag in ("table", "tr", "td", "th", "caption", "a"):
            self._start_table_part(tag, attributes)
        elif tag in ("form", "input", "select", "option", "textarea"):
            self._start_form_part(tag, attributes)

    def _start_table_part(self, tag: str, attributes: dict[str, str]) -> None:
        if tag == "table":
            self._table = Table()
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self._row = Row()
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a" and self._row is not None and "href" in attributes:
            self._row.links.append(attributes["href"])

    def _start_form_part(self, tag: str, attributes: dict[str, str]) -> None:
        if tag == "form":
            self._form = Form(action=attributes.get("action", ""), method=attributes.get("method", "get").lower())
        elif tag == "select":
            self._select = _Select(attributes.get("name", ""), "multiple" in attributes)
        elif tag == "option":
            self._option = (attributes.get("value"), "selected" in attributes, [])
        elif tag == "textarea":
            self._textarea = (attributes.get("name", ""), [])
        elif tag == "input" and self._form is not None and attributes.get("name"):
            kind = attributes.get("type", "text").lower()
            if kind in UNSENT_INPUTS or (kind in ("checkbox", "radio") and "checked" not in attributes):
                return
            self._form.fields.append((attributes["name"], attributes.get("value", "on" if kind == "checkbox" else "")))

    def handle_endtag(self, tag: str) -> None:
        if tag in SEPARATE:
            self.text.append(" ")
        if tag in ("script", "style", "template"):
            self._hidden = max(0, self._hidden - 1)
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.cells.append(words("".join(self._cell)))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._table is not None:
                self._table.rows.append(self._row)
            self._row = None
        elif tag == "caption" and self._caption is not None and self._table is not None:
            self._table.caption = words("".join(self._caption))
            self._caption = None
        elif tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None
        else:
            self._end_form_part(tag)

    def _end_form_part(self, tag: str) -> None:
        if tag == "option" and self._option is not None and self._select is not None:
            value, selected, text = self._option
            value = words("".join(text)) if value is None else value
            self._select.options.append(value)
            if selected:
                self._select.selected.append(value)
            self._option = None
        elif tag == "select" and self._select is not None:
            select = self._select
            chosen = select.selected or ([] if select.multiple else select.options[:1])
            if self._form is not None and select.name:
                self._form.fields.extend((select.name, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            if self._form is not None and name:
                # A browser drops the one line break that follows <textarea>.
                self._form.fields.append((name, "".join(text).removeprefix("\n")))
            self._textarea = None
        elif tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        self.text.append(data)
        for buffer in (self._cell, self._caption, self._option[2] if self._option else None,
                       self._textarea[1] if self._textarea else None):
            if buffer is not None:
                buffer.append(data)


def read_page(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return Page(text=words("".join(reader.text)), tables=reader.tables, forms=reader.forms)
