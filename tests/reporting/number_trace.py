"""Tracing every number of a rendered report to the run's records (used by test_report_numbers.py).

A report writes its numbers through formatters that record each one in a ledger (``report/<name>.numbers.json``):
the text, the formatter, the JSON path of every value it read and the formatter's settings. Here the ledger is
checked against the run (re-running each formatter on the values at those paths must give the same text) and the
HTML is checked against the ledger (every number in the HTML's text must be one the ledger holds, apart from the
structural numbers named in ``STRUCTURAL``).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from reporting_helpers import resolve

from cteimpact.reporting.numbers import FORMATTERS

NUMBER = re.compile(r"\b\d{4}-\d\d-\d\d\b"
                    r"|(?<![A-Za-z0-9_.])\d[\d.,]*\d(?:[eE][-+]?\d+)?(?![A-Za-z_\d])"
                    r"|(?<![A-Za-z0-9_.])\d(?![A-Za-z_\d.,])")
"""A number in running text, without its sign: a date (``2026-12-04``), digits with separators and decimals
(``12,345.6``, ``3.11.7``, ``1.2e-07``); not part of a word (``CR3``, ``age19``, ``5th``)."""

STRUCTURAL = [
    # figure, table and section numbers written by the cross-reference filter (captions and references)
    re.compile(r"\b(?:Figure|Table|Section) \d+(?:\.\d+)*"),
    # years of the citations in the templates' prose: "Calonico, Cattaneo and Titiunik 2014", "Roth 2022",
    # "Armstrong and Kolesár 2018, 2020" (names may carry accents; one author's several years)
    re.compile(r"(?:[A-ZÀ-Þ][a-zß-ÿ'’-]+(?:, | and | & ))*[A-ZÀ-Þ][a-zß-ÿ'’-]+,? \(?(?:19|20)\d\d"
               r"(?:, (?:19|20)\d\d)*\)?(?![\d-])"),
    # the name of a hash function
    re.compile(r"SHA-256"),
]


class _Text(HTMLParser):
    """The text of an HTML report without style, script and the numbers of headings and contents entries."""

    SKIP_CLASSES = ("header-section-number", "toc-section-number")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._stack: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = " ".join(v or "" for k, v in attrs if k == "class")
        skip = tag in ("style", "script", "title") or any(c in classes for c in self.SKIP_CLASSES)
        if tag in ("img", "br", "meta", "link", "hr", "input", "col"):
            return
        self._stack.append(skip or (bool(self._stack) and self._stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("img", "br", "meta", "link", "hr", "input", "col"):
            return
        if self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self._stack and self._stack[-1]):
            self.chunks.append(data)


def html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.chunks).split())


def numbers_in(text: str) -> list[str]:
    for pattern in STRUCTURAL:
        text = pattern.sub(" ", text)
    return NUMBER.findall(text)


def ledger(report: Path) -> list[dict[str, Any]]:
    return json.loads(report.with_name(report.name.replace(".html", ".numbers.json")).read_text(encoding="utf-8"))[
        "numbers"]


def check_ledger(run: Path, entries: list[dict[str, Any]]) -> list[str]:
    """Problems with the ledger: an entry whose formatter, re-run on the values at its paths, gives another text; a
    text entry whose numbers are not in the recorded text; a path that leads nowhere."""
    problems = []
    for e in entries:
        try:
            if "formatter" in e:
                values = {name: resolve(run, path) for name, path in e["inputs"].items()}
                text = FORMATTERS[e["formatter"]](**values, **e.get("settings", {}))
                if text != e["text"]:
                    problems.append(f"{e['formatter']}({e['inputs']}) gives {text!r}, the report shows {e['text']!r}")
            elif "source" in e:
                value = resolve(run, e["source"])
                recorded = " ".join([str(value), json.dumps(value, ensure_ascii=False)])
                missing = [n for n in numbers_in(e["text"]) if n not in recorded]
                if missing:
                    problems.append(f"{e['text'][:60]!r}: {missing} not in {e['source']}")
            elif "path_of" in e:
                resolve(run, e["path_of"])
            else:
                problems.append(f"an entry with neither formatter nor source: {e}")
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            problems.append(f"{e}: {type(exc).__name__} {exc}")
    return problems


def orphans(html: str, entries: list[dict[str, Any]]) -> list[str]:
    """Numbers of the HTML text that no ledger entry holds, each with a little of its context."""
    allowed = {n for e in entries for n in numbers_in(e["text"])}
    text = html_text(html)
    found = []
    for pattern in STRUCTURAL:
        text = pattern.sub(" ", text)
    for m in NUMBER.finditer(text):
        if m.group(0) not in allowed:
            found.append(f"{m.group(0)!r} in ...{text[max(0, m.start() - 50): m.end() + 30]}...")
    return found
