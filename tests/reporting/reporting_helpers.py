"""Helpers of the reporting tests: what an HTML file loads, PDF text."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from pypdf import PdfReader


class ResourceCollector(HTMLParser):
    """Every attribute of an HTML document that can load something, and every element id."""

    LOADING = frozenset({"src", "href", "srcset", "data", "poster", "action", "background", "xlink:href", "formaction"})

    def __init__(self) -> None:
        super().__init__()
        self.references: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if name in self.LOADING and value is not None:
                self.references.append((tag, name, value))
            if name == "style" and value:
                self.styles.append(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def collect_resources(html: str) -> ResourceCollector:
    parser = ResourceCollector()
    parser.feed(html)
    return parser


def external_references(html: str) -> list[str]:
    """Everything in ``html`` that points outside the document: attributes other than in-page anchors and data
    URIs, CSS ``url()`` and ``@import`` that are not data URIs."""
    parser = collect_resources(html)
    found = [f"<{tag} {name}={value!r}>" for tag, name, value in parser.references
             if not (value.startswith("#") or value.startswith("data:"))]
    for css in parser.styles:
        found += [f"url({u})" for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", css) if not u.startswith("data:")]
        found += [f"@import {m}" for m in re.findall(r"@import\s+([^;]+)", css)]
    return found


def pdf_text(path: Path) -> str:
    """The text of every page of a PDF, whitespace collapsed."""
    reader = PdfReader(path)
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def pdf_outline(path: Path) -> list[str]:
    """Titles of the PDF's bookmarks (one per heading), in order, nested levels flattened."""
    reader = PdfReader(path)
    titles: list[str] = []

    def walk(items: list) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                titles.append(" ".join(str(item.title).split()))

    walk(reader.outline)
    return titles


_STEP = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\["([^"]*)"\]')


def resolve(run: Path, path: str) -> object:
    """The value at a record path such as ``results.json:design.estimates[3].estimate`` in the run directory
    ``run`` (``KeyError``/``IndexError`` when there is none)."""
    import json

    if path.endswith("~key"):  # the key itself
        bare = path[: -len("~key")]
        resolve(run, bare)  # the key exists
        m = re.search(r'(?:[.:]([A-Za-z_][A-Za-z0-9_]*)|\["([^"]*)"\])$', bare)
        assert m is not None, path
        return m.group(1) or m.group(2)
    source, _, rest = path.partition(":")
    value: object = json.loads((run / source).read_text(encoding="utf-8"))
    position = 0
    rest = "." + rest if rest and not rest.startswith("[") else rest
    while position < len(rest):
        m = _STEP.match(rest, position)
        if m is None:
            raise KeyError(f"cannot read {path!r} at {rest[position:]!r}")
        name, index, quoted = m.groups()
        key = int(index) if index is not None else (name if name is not None else quoted)
        value = value[key]  # type: ignore[index]
        position = m.end()
    return value
