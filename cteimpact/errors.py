"""Exception and warning classes shared by every part of cteimpact.

Every error a user can cause (bad data, a bad option, a bad specification or contract, a design on which an
estimator cannot run) is a subclass of :class:`CteImpactError`; the command-line interface turns these into one
line on stderr and exit code 2. Anything else is a bug in cteimpact and exits with code 1.

Messages name the column, argument or key involved and the counts behind the verdict, and say how to proceed.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AllMissingError",
    "ColumnTypeError",
    "CteImpactError",
    "CteImpactWarning",
    "DataDroppedWarning",
    "DataValidationError",
    "DesignError",
    "DuplicateRowsError",
    "EstimationError",
    "InvalidValueError",
    "MissingColumnError",
    "NoSamplingDistributionError",
    "OptionError",
    "RestrictionError",
    "RestrictionSyntaxError",
    "RunDirectoryError",
    "SmallSampleWarning",
    "SpecificationError",
    "SuppressedEstimateError",
    "WeakFirstStageWarning",
]


class CteImpactError(Exception):
    """Base class of every error caused by the user's input (exit code 2 on the command line)."""


class OptionError(CteImpactError, ValueError):
    """An argument or option has a value outside its allowed set or range."""


class RestrictionError(OptionError):
    """A sample restriction cannot be evaluated on the data: it names a column the data do not have, mixes text
    and numbers, or does not give true/false for each row.

    Parameters
    ----------
    message
        The one-line message (it quotes the restriction).
    expression
        The restriction.
    token
        The offending token or column name, if there is one.
    position
        Where that token starts in the restriction (counted from 0).
    """

    def __init__(self, message: str, *, expression: str | None = None, token: str | None = None,
                 position: int | None = None) -> None:
        super().__init__(message)
        self.expression = expression
        self.token = token
        self.position = position


class RestrictionSyntaxError(RestrictionError):
    """A sample restriction uses something outside the restriction language (a call, an attribute, ``@``, an
    unknown operator...), is malformed, too long, or nested too deeply. Nothing in it was evaluated."""


class DataValidationError(CteImpactError, ValueError):
    """The data do not satisfy the student-data contract."""


class MissingColumnError(DataValidationError, KeyError):
    """A column named in the column mapping or in an option is not in the data.

    Parameters
    ----------
    column
        The name that was asked for.
    available
        The columns the data do have.
    role
        The contract role the column was meant to fill, if any.
    """

    def __init__(self, column: str, available: list[str] | tuple[str, ...], role: str | None = None) -> None:
        import difflib

        self.column = column
        self.role = role
        self.available = tuple(str(c) for c in available)
        close = difflib.get_close_matches(column, self.available, n=1, cutoff=0.6)
        if not close:
            lowered = {c.lower(): c for c in self.available}
            if column.lower() in lowered:
                close = [lowered[column.lower()]]
        self.suggestion = close[0] if close else None
        what = f"column '{column}'" + (f" (role '{role}')" if role else "")
        hint = (
            f"; did you mean '{self.suggestion}'?"
            if self.suggestion
            else f"; the data have {len(self.available)} columns: {', '.join(self.available[:12])}"
            + (" ..." if len(self.available) > 12 else "")
        )
        super().__init__(f"{what} is not in the data{hint}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (errors cross process boundaries in parallel runs)
        return (_restore_error, (type(self), self.args, dict(self.__dict__)))


def _restore_error(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class ColumnTypeError(DataValidationError):
    """A column has values of the wrong type (for example text in a numeric column)."""


class DuplicateRowsError(DataValidationError):
    """Rows that must be unique on a key (for example student and year) are repeated."""


class InvalidValueError(DataValidationError):
    """Values outside the allowed set or range: a binary outcome with other values, negative earnings, impossible
    years, a treatment that switches off."""


class AllMissingError(DataValidationError):
    """A required column has no non-missing value."""


class SpecificationError(CteImpactError, ValueError):
    """An analysis specification or a payment contract is invalid."""


class RunDirectoryError(CteImpactError):
    """A run directory cannot be written or read: it is missing, incomplete, locked by another run, holds another
    run or files that are not a run's, or sits in a folder that cannot be written."""


class DesignError(CteImpactError, ValueError):
    """The data cannot support the requested design (no observations on one side of a cutoff, no comparison units,
    a single cluster, ...)."""


class SuppressedEstimateError(CteImpactError, ValueError):
    """An estimate hidden by the small-cell rule (it describes fewer than ``min_cell`` students, or would reveal one
    that does) was asked for: to price a contract on it, or to draw it."""


class NoSamplingDistributionError(CteImpactError, ValueError):
    """A result whose estimates have no standard error (the Goodman-Bacon decomposition, an identity rather than an
    estimator with inference) was asked for its sampling distribution: to price a contract on it, or to draw it."""


class EstimationError(CteImpactError, RuntimeError):
    """A wrapped estimation library failed on the data it was given; the message says what it was doing."""


class CteImpactWarning(UserWarning):
    """Base class of cteimpact's warnings."""


class WeakFirstStageWarning(CteImpactWarning):
    """The first stage of a fuzzy design is weak (the jump in treatment take-up is small relative to its noise)."""


class SmallSampleWarning(CteImpactWarning):
    """Few observations or clusters: the asymptotic approximations behind the reported inference may be poor."""


class DataDroppedWarning(CteImpactWarning):
    """Rows were excluded; the sample flow records each exclusion with its reason and count."""
