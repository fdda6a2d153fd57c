"""A guard against student identifiers in any output file (small-cell suppression is in ``suppression``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from cteimpact.errors import CteImpactError

__all__ = ["IdentifierLeakError", "find_identifiers"]

_TOKEN = re.compile(r"[A-Za-z0-9_\-]+")


class IdentifierLeakError(CteImpactError):
    """A student identifier was found in an output file (the output is not released)."""


def find_identifiers(paths: Iterable[str | Path], identifiers: Iterable[str]) -> dict[str, int]:
    """Count, per file, the tokens equal to one of ``identifiers`` (case-sensitive).

    Files are read as text (binary files such as PNG or Parquet are scanned as Latin-1 text, so identifiers
    stored as plain strings inside them are found too). Cost is linear in the size of the outputs; the identifier
    set may hold millions of values.
    """
    ids = {str(i) for i in identifiers if str(i)}
    hits: dict[str, int] = {}
    for p in paths:
        path = Path(p)
        text = path.read_bytes().decode("latin-1")
        n = sum(1 for tok in _TOKEN.findall(text) if tok in ids)
        if n:
            hits[path.as_posix()] = n
    return hits
