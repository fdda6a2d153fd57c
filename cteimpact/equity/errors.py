"""Errors of the equity analysis."""

from __future__ import annotations

from collections.abc import Sequence

from cteimpact.errors import OptionError

__all__ = ["UnknownGroupError"]


class UnknownGroupError(OptionError):
    """A subgroup named by the user (a reference level, a priority group) does not occur in the data at all.

    The message names the column, the group asked for and the levels present with their numbers of students; a
    level of fewer than ``min_cell`` students is shown as "fewer than ``min_cell``", never with its exact count.

    Parameters
    ----------
    column
        The subgroup column.
    group
        The level asked for.
    levels
        ``(level, number of students)`` of every level present.
    min_cell
        Counts below it are not printed.
    """

    def __init__(self, column: str, group: object, levels: Sequence[tuple[str, int]], *, min_cell: int) -> None:
        self.column = column
        self.group = group
        self.levels = tuple((str(lev), int(n)) for lev, n in levels)
        shown = ", ".join(f"{lev} ({n:,} students)" if n >= min_cell else f"{lev} (fewer than {min_cell} students)"
                          for lev, n in self.levels)
        super().__init__(f"group {column}={group!s} is not in the data: column '{column}' has "
                         f"{len(self.levels)} level(s): {shown or 'none (all values missing)'}")
