"""Every number a report shows, with where it came from: the formatters and the ledger that records their use.

A number reaches a report template only through a formatter (a template filter): the formatter takes recorded values
(:class:`~cteimpact.records.Num`, which carry their JSON path), writes the text and adds an entry to the report's
:class:`Ledger` — the text, the formatter's name, the path of each value it read and the formatter's settings — so
that anyone can re-run ``FORMATTERS[name](**values at those paths, **settings)`` and get the same text. A value
without a path (a number computed on the way, or typed into a template) is refused: the report computes nothing.
The ledger is written beside the report (``report/impact-report.numbers.json``).

Texts read from the records (:class:`~cteimpact.records.Text`) that hold digits are entered with their path too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Undefined

from cteimpact.provenance.suppression import SUPPRESSION_MARKER
from cteimpact.records import Num, Record, RecordMap, Text
from cteimpact.reporting.errors import ReportContentError
from cteimpact.reporting.formatting import (
    MISSING,
    decimals_for_se,
    format_ci,
    format_count,
    format_effect,
    format_full,
    format_money,
    format_number,
    format_p_value,
    format_percent,
)
from cteimpact.reporting.markdown import Markdown, code_span, escape_markdown

__all__ = ["FORMATTERS", "HIDDEN", "PP", "Ledger", "OrphanNumberError", "shown"]

PP = "\u00a0pp"
"""Unit of a difference of proportions, after a no-break space so that a number and its unit stay on one line."""


class OrphanNumberError(ReportContentError):
    """A number without a recorded source (no JSON path) was about to be shown in a report."""


class _Hidden:
    """A table cell hidden by the small-cell rule: shown as the suppression marker by every formatter."""

    def __repr__(self) -> str:
        return "HIDDEN"


HIDDEN = _Hidden()


# -- formatters: pure functions of recorded values, re-run by the tests that trace every number -----------------------

def _effect(x: float, se: float | None = None, *, kind: str, currency: str = "$", signed: bool = False) -> str:
    """An effect in the outcome's unit: ``-5.9 pp``, ``-$1,234``, ``-0.059``."""
    if kind == "proportion":
        return format_effect(100 * x, se=None if se is None else 100 * se, digits=2, signed=signed) + PP
    if kind == "money":
        return format_money(x, signed=signed, currency=currency)
    return format_effect(x, se=se, signed=signed)


def _se(x: float, *, kind: str, currency: str = "$") -> str:
    if kind == "proportion":
        return format_effect(100 * x, se=100 * x) + PP
    if kind == "money":
        return format_money(x, currency=currency)
    return format_effect(x, se=x)


def _ci(lower: float, upper: float, se: float | None = None, *, kind: str, currency: str = "$") -> str:
    """An interval in the outcome's unit, never split across lines: ``[-16.0, 1.9] pp``, ``[$317, $1,681]``."""
    if kind == "proportion":
        text = (format_ci(100 * lower, 100 * upper, se=100 * se) if se is not None
                else format_ci(100 * lower, 100 * upper, digits=2)) + PP
    elif kind == "money":
        text = f"[{format_money(lower, currency=currency)}, {format_money(upper, currency=currency)}]"
    else:
        text = format_ci(lower, upper, se=se)
    return text.replace(", ", ",\u00a0")


def _size(x: float, se: float | None = None, *, kind: str, currency: str = "$") -> str:
    """The magnitude of an effect in words: ``5.9 percentage points``, ``$1,234``, ``0.059``."""
    if kind == "proportion":
        decimals = decimals_for_se(100 * se) if se is not None else None
        return format_number(abs(100 * x), digits=2, decimals=decimals) + " percentage points"
    if kind == "money":
        return format_money(abs(x), currency=currency)
    return format_effect(abs(x), se=se)


def _level(x: float, *, kind: str, currency: str = "$") -> str:
    """A mean of the outcome: ``9.6%``, ``$21,400``, ``0.42``."""
    if kind == "proportion":
        return format_percent(x, decimals=1)
    if kind == "money":
        return format_money(x, currency=currency)
    return format_number(x)


def _p_text(x: float) -> str:
    text = format_p_value(x)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def _year(x: float) -> str:
    """A year or a cohort: ``2014`` (never ``2,014.00``)."""
    return str(int(x)) if x == int(x) else format_number(x, thousands=False)


def _ordinal(x: Any) -> str:
    """A percentile's key as an ordinal: ``"5"`` → ``5th``."""
    value = float(x)
    text = format_number(value, digits=6, thousands=False)
    n = int(value) if value == int(value) else None
    if n is None:
        return text + "th"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _rate(x: Any, *, decimals: int = 0) -> str:
    """A rate given as a number or as the numeric key of a record (``"0.03"``), written as a percent (``3%``)."""
    return format_percent(float(x), decimals=decimals)


def _plain(x: Any) -> str:
    """A parameter as given (``0.03``, ``9,932``, ``0.5, 0.75``), not rounded to significant digits."""
    if isinstance(x, list):
        return ", ".join(_plain(v) for v in x)
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    return format_count(x) if x == int(x) and abs(x) >= 1 else f"{x:.6g}"


def _length(items: Any, *, where: Mapping[str, Any] | None = None) -> str:
    """How many items a list or object of the records holds (those whose fields equal ``where``, if given)."""
    values = list(items.values()) if isinstance(items, Mapping) else list(items)
    if where:
        values = [v for v in values if isinstance(v, Mapping) and all(v.get(k) == w for k, w in where.items())]
    return format_count(len(values))


def _position(items: Any, *, index: int) -> str:
    """The position (from 0) of an item of a recorded list: a contract year, a row number."""
    if not 0 <= index < len(items):
        raise IndexError(f"position {index} is outside a list of {len(items)}")
    return str(index)


FORMATTERS: dict[str, Callable[..., str]] = {
    "effect": _effect,
    "se": _se,
    "ci": _ci,
    "size": _size,
    "level": _level,
    "percent": lambda x, *, decimals=1, signed=False: format_percent(x, decimals=decimals, signed=signed),
    "money": lambda x, *, currency="$", compact=False, signed=False: format_money(
        x, currency=currency, compact=compact, signed=signed),
    "count": lambda x: format_count(x),
    "number": lambda x, *, digits=3, decimals=None, signed=False: format_number(
        x, digits=digits, decimals=decimals, signed=signed),
    "p": lambda x: format_p_value(x),
    "p_text": _p_text,
    "ratio": lambda x: format_number(x, decimals=2),
    "full": lambda x: format_full(x),
    "year": _year,
    "ordinal": _ordinal,
    "plain": _plain,
    "rate": _rate,
    "length": _length,
    "position": _position,
}
"""Formatter name → function. The functions take plain JSON values (the values at the ledger's paths)."""


# -- the ledger -------------------------------------------------------------------------------------------------------

_DIGIT = re.compile(r"\d")


@dataclass
class Ledger:
    """The numbers one report shows: each text with the formatter and the recorded values it came from."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def _add(self, entry: dict[str, Any]) -> None:
        key = json.dumps(entry, sort_keys=True, ensure_ascii=False)
        if key not in self._seen:
            self._seen.add(key)
            self.entries.append(entry)

    def show(self, formatter: str, inputs: Mapping[str, Any], /, *, paths: Mapping[str, str] | None = None,
             **settings: Any) -> Markdown:
        """The text of ``FORMATTERS[formatter]`` on ``inputs`` (name → recorded value), as markdown, recorded.

        The first input is the value shown: when it is None (not recorded) the text is ``—``, when it is
        :data:`HIDDEN` the suppression marker. Every other non-None input must be recorded too (``paths`` gives the
        path of an input that does not carry one, such as a list of records).

        Raises
        ------
        OrphanNumberError
            An input is a number (or anything else) without a recorded source.
        """
        values = list(inputs.values())
        for v in values:
            if isinstance(v, Undefined):
                v._fail_with_undefined_error()  # StrictUndefined: a template named something the report lacks
        if any(v is HIDDEN for v in values):
            return Markdown(escape_markdown(SUPPRESSION_MARKER))
        if values[0] is None:
            return Markdown(escape_markdown(MISSING))
        found: dict[str, str] = {}
        plain: dict[str, Any] = {}
        for name, value in inputs.items():
            if value is None:
                continue
            path = (paths or {}).get(name) or _path_of(value)
            if not path:
                raise OrphanNumberError(
                    f"the report would show a number ({formatter} of {_describe(value)}) that no record holds: "
                    "every number must come from results.json, manifest.json or certificate.json through a "
                    "formatting filter")
            found[name] = path
            # a count reads only the fields its ``where`` names (a list of thousands of records is not converted)
            plain[name] = (_plain_items(value, tuple(settings.get("where") or ())) if formatter == "length"
                           else _plain_value(value))
        number = plain[next(iter(plain))]
        if isinstance(number, float) and not math.isfinite(number):
            return Markdown(escape_markdown(MISSING))
        text = FORMATTERS[formatter](**plain, **settings)
        self._add({"text": text, "formatter": formatter, "inputs": found,
                   **({"settings": dict(settings)} if settings else {})})
        return Markdown(escape_markdown(text))

    def text(self, value: Text, shown_as: str | None = None) -> None:
        """Record a text of the records that holds digits (``shown_as``: how the report writes it, if not as is)."""
        shown_text = str(value) if shown_as is None else shown_as
        if _DIGIT.search(shown_text) and value.path:
            self._add({"text": shown_text, "source": value.path})

    def code(self, value: Any) -> Markdown:
        """A recorded text (a hash, a version, a command) as inline code, recorded."""
        if isinstance(value, Text):
            self.text(value)
        elif isinstance(value, Num):
            return self.show("full", {"x": value})  # a number shown at full precision
        elif value is not None and _DIGIT.search(str(value)):
            raise OrphanNumberError(f"the report would show {str(value)[:40]!r} as code, which no record holds")
        if value is None:
            return Markdown(escape_markdown(MISSING))
        text = str(value)
        if "|" in text:  # a pipe inside inline code would show its escaping backslash in a pipe table
            return Markdown(escape_markdown(text))
        return code_span(text)

    def path_code(self, value: Any) -> Markdown:
        """The JSON path of a recorded value (``design.estimates[0].estimate``), as inline code, recorded."""
        path = _path_of(value)
        if not path:
            return Markdown(escape_markdown(MISSING))
        shown_path = path.split(":", 1)[1] if ":" in path else path
        self._add({"text": shown_path, "path_of": path})
        return code_span(shown_path)

    def to_json(self) -> dict[str, Any]:
        return {"schema": "cteimpact.report-numbers/1", "numbers": self.entries}


def _path_of(value: Any) -> str | None:
    if isinstance(value, (Num, Text, RecordMap)):
        return value.path or None
    if isinstance(value, Record):
        return value.where or None
    if isinstance(value, tuple) and value:
        first = _path_of(value[0])
        return first.rsplit("[", 1)[0] if first and first.endswith("[0]") else None
    return None


def _plain_value(value: Any) -> Any:
    if isinstance(value, Num):
        return value.raw
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain_value(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain_value(v) for v in value]
    if isinstance(value, Record):
        return {f: _plain_value(getattr(value, f)) for f in value.__dataclass_fields__ if f != "where"}
    return value


def _plain_items(items: Any, fields: tuple[str, ...]) -> Any:
    """What the ``length`` formatter reads of a recorded list or object: its items, each reduced to ``fields`` (plain
    values) when it is a record or a mapping; equal to :func:`_plain_value` for those fields."""
    values = list(items.values()) if isinstance(items, Mapping) else list(items)
    out: list[Any] = []
    for v in values:
        if isinstance(v, Record):
            out.append({f: _plain_value(getattr(v, f)) for f in fields if f in v.__dataclass_fields__})
        elif isinstance(v, Mapping):
            out.append({f: _plain_value(v[f]) for f in fields if f in v})
        else:
            out.append(_plain_value(v))
    return out


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def shown(values: Sequence[Any]) -> list[Any]:
    """The values that are neither missing nor hidden."""
    return [v for v in values if v is not None and v is not HIDDEN]
