"""A guard against student identifiers in any output file (small-cell suppression is in ``suppression``).

What counts as a leak
---------------------
The guard's job is to catch a student-level column or list reaching an output (a table written per student, a
results record holding the units' ids). Identifiers are compared as text, case-sensitively, and fall in two
kinds:

* **distinctive** identifiers — anything that is not a plain decimal integer (``S0012345``, ``A-17``, and
  ``00123``, whose leading zero no number in an output carries; ``123.0``, from a float column, is the integer
  ``123``): a single occurrence as a token of any output
  file (text, or a binary file read as Latin-1) is a leak.
* **numeric** identifiers — plain integers such as ``3`` or ``20154``: the same digits are ordinary numbers in
  results (counts, years, bandwidths), so one occurrence proves nothing. They are looked for only as whole values
  — a CSV cell, a JSON number, string or object key (``3.0`` counts as ``3``; a digit run inside a decimal number
  or a label never does) — and a file is flagged when one *container* holds a set of them: at least
  ``min(100, max(20, half the numeric identifiers))`` distinct identifiers in one CSV column, one JSON array, or
  among a JSON document's string values and keys. Published tables and results hold a few dozen integers per
  column or array at most, while a leaked identifier column holds one per student. Binary files are not searched
  for numeric identifiers (their bytes spell digits at random). A leak of fewer identifiers than the threshold,
  or of integer identifiers scattered through prose, is beyond what this guard can tell from ordinary numbers;
  prefer text identifiers with a prefix (``S0012345``) where possible.

Cost is linear in the size of the outputs; the identifier set may hold millions of values.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cteimpact.errors import CteImpactError

__all__ = ["IdentifierLeakError", "find_identifiers", "numeric_threshold"]

_TOKEN = re.compile(r"[A-Za-z0-9_\-]+")
_INT_LIKE = re.compile(r"([+-]?(?:0|[1-9][0-9]*))(?:\.0+)?")


class IdentifierLeakError(CteImpactError):
    """A student identifier was found in an output file (the output is not released)."""


def numeric_threshold(n_numeric: int) -> int:
    """Distinct numeric identifiers one container must hold to be a leak (see the module docstring)."""
    return min(100, max(20, math.ceil(n_numeric / 2)))


def _canonical_int(value: Any) -> str | None:
    """``value`` as a plain integer text when it is a whole number (``3``, ``3.0``, ``"3"``), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        m = _INT_LIKE.fullmatch(value.strip())
        return m.group(1).lstrip("+") if m else None
    return None


def _json_containers(doc: Any) -> Iterator[list[str]]:
    """Whole-number values of a JSON document grouped by container: each array's scalars, and the document's
    string values and object keys together."""
    strings: list[str] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                c = _canonical_int(k)
                if c is not None:
                    strings.append(c)
                stack.append(v)
        elif isinstance(node, list):
            values = [c for c in (_canonical_int(v) for v in node if not isinstance(v, (dict, list))) if c is not None]
            if values:
                yield values
            stack.extend(v for v in node if isinstance(v, (dict, list)))
        elif isinstance(node, str):
            c = _canonical_int(node)
            if c is not None:
                strings.append(c)
    yield strings


def _csv_containers(text: str) -> Iterator[list[str]]:
    """Whole-number cells of each column of a CSV text."""
    columns: dict[int, list[str]] = {}
    for row in csv.reader(io.StringIO(text)):
        for j, cell in enumerate(row):
            c = _canonical_int(cell)
            if c is not None:
                columns.setdefault(j, []).append(c)
    yield from columns.values()


def _numeric_hits(path: Path, raw: bytes, numeric: set[str], threshold: int) -> int:
    name = path.name.lower()
    try:
        if name.endswith(".json"):
            containers = _json_containers(json.loads(raw.decode("utf-8")))
        elif name.endswith((".csv", ".csv.gz")):
            data = gzip.decompress(raw) if name.endswith(".gz") else raw
            containers = _csv_containers(data.decode("utf-8", errors="replace"))
        else:
            return 0
        hits = 0
        for values in containers:
            found = {v for v in values if v in numeric}
            if len(found) >= threshold:
                hits += len(found)
        return hits
    except (ValueError, OSError, EOFError):  # not parseable as its type: its tokens were still scanned
        return 0


def find_identifiers(paths: Iterable[str | Path], identifiers: Iterable[str]) -> dict[str, int]:
    """Count, per file, the identifiers found (see the module docstring for the rule).

    Parameters
    ----------
    paths
        Output files to scan.
    identifiers
        The student identifiers (compared as text).

    Returns
    -------
    dict
        File path → number of matches (tokens equal to a distinctive identifier, plus the distinct numeric
        identifiers of each container that holds a set of them); files without a match are left out.
    """
    distinctive: set[str] = set()
    numeric: set[str] = set()
    for i in identifiers:
        text = str(i)
        if not text:
            continue
        as_int = _canonical_int(text)  # "123" and "123.0" (a float id column) are the number 123
        if as_int is not None:
            numeric.add(as_int)
        else:
            distinctive.add(text)
    threshold = numeric_threshold(len(numeric))
    hits: dict[str, int] = {}
    for p in paths:
        path = Path(p)
        raw = path.read_bytes()
        n = 0
        if distinctive:
            n += sum(1 for tok in _TOKEN.findall(raw.decode("latin-1")) if tok in distinctive)
        if numeric:
            n += _numeric_hits(path, raw, numeric, threshold)
        if n:
            hits[path.as_posix()] = n
    return hits
