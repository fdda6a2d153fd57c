"""Errors of the surrogate index: which sample, which column or arm, and the counts behind the verdict.

They subclass the shared classes of :mod:`cteimpact.errors`, so the command line turns each into one line on stderr
and exit code 2, and callers can catch either the specific or the shared class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cteimpact.errors import DesignError, MissingColumnError

__all__ = ["CollinearColumnsError", "EmptyArmError", "SampleColumnError", "TooFewRowsError", "TrainingSampleError"]


class SampleColumnError(MissingColumnError):
    """A column the surrogate index needs is not in one of its samples.

    Parameters
    ----------
    column
        The column asked for.
    available
        The columns of that sample.
    role
        What the column is for (``"long-run outcome"``, ``"surrogate"``, ``"treatment"``...).
    sample
        Which sample lacks it (``"observational sample"``, ``"experimental sample"``...).
    """

    def __init__(self, column: str, available: Sequence[str], role: str | None = None, *,
                 sample: str = "data") -> None:
        super().__init__(column, list(available), role)
        self.sample = sample
        self.args = (f"{sample}: {self.args[0]}",)


class EmptyArmError(DesignError):
    """A treatment arm has no row with every value the comparison needs (surrogates, covariates, outcome).

    Attributes
    ----------
    arm
        ``"treated"`` or ``"comparison"``.
    rows
        Rows of that arm before the exclusion.
    present
        Column → rows of that arm where it is present.
    """

    def __init__(self, message: str, *, arm: str, rows: int, present: Mapping[str, int]) -> None:
        super().__init__(message)
        self.arm = arm
        self.rows = int(rows)
        self.present = dict(present)


class CollinearColumnsError(DesignError):
    """Surrogates or covariates are linearly dependent (one is a combination of others or of the intercept), so
    their coefficients are not identified.

    Attributes
    ----------
    columns
        The dependent set: the column that adds nothing, then the columns it is a combination of.
    """

    def __init__(self, message: str, *, columns: Sequence[str]) -> None:
        super().__init__(message)
        self.columns = tuple(columns)


class TooFewRowsError(DesignError):
    """Fewer usable rows (or clusters) than a regression of the surrogate index needs.

    Attributes
    ----------
    rows
        Usable rows (or clusters).
    needed
        The number required.
    """

    def __init__(self, message: str, *, rows: int, needed: int) -> None:
        super().__init__(message)
        self.rows = int(rows)
        self.needed = int(needed)


class TrainingSampleError(DesignError):
    """The training sample of a surrogate index cannot be used: a restriction keeps no row, or no row kept has the
    long-run outcome.

    Attributes
    ----------
    rows_kept
        Rows the training restrictions kept.
    rows_with_outcome
        Of those, rows with the outcome.
    column
        The outcome column.
    """

    def __init__(self, message: str, *, rows_kept: int, rows_with_outcome: int, column: str) -> None:
        super().__init__(message)
        self.rows_kept = int(rows_kept)
        self.rows_with_outcome = int(rows_with_outcome)
        self.column = column
