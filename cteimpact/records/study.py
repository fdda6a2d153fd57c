"""The study and its privacy rule (``results.json`` ``study`` and ``privacy``)."""

from __future__ import annotations

from dataclasses import dataclass

from cteimpact.records._base import Num, Record, Text

__all__ = ["Privacy", "Study"]


@dataclass(frozen=True)
class Study(Record):
    """``study``: what the specification calls the study."""

    name: Text
    """Short identifier (``ccpt-dropout-rd``)."""
    title: Text | None = None
    description: Text | None = None


@dataclass(frozen=True)
class Privacy(Record):
    """``privacy``: the small-cell rule every published table follows."""

    min_cell: Num | None = None
    """Smallest number of students a published cell may describe."""
    rule: Text | None = None
    note: Text | None = None
