"""What the comparison estimators' results share to honour the results contract.

:class:`ComparisonResults` is the :class:`~cteimpact.results.contract.ImpactResults` base of
:class:`~cteimpact.did.sunab.SunAbrahamResult`, :class:`~cteimpact.did.twfe.TWFEResult` and
:class:`~cteimpact.did.bacon.BaconDecomposition`: their estimate rows, options and sample flow; ``summary`` (text),
``tidy``, ``to_dict`` (the contract's record, the estimator's own numbers under ``details``) and ``plot`` (the
estimates with their intervals). :meth:`ComparisonResults.record` is the estimator's own record, as written inside a
difference-in-differences results file.

Two names are both a legacy value and a contract method
------------------------------------------------------
Before they honoured the contract, the TWFE result's ``estimate`` was the coefficient (a number) and the
Goodman-Bacon decomposition's ``summary`` its table by comparison type (a DataFrame); reference tests and users
read them so. The contract has methods of the same names, ``estimate(label)`` and ``summary()``. Both are kept:

* ``TWFEResult.estimate`` is a :class:`Coefficient`, a ``float`` subclass: ``res.estimate - 0.1``,
  ``f"{res.estimate:.3f}"`` and ``float(res.estimate)`` use the number (arithmetic returns plain floats), and
  calling it is the contract's lookup: ``res.estimate()`` is the coefficient's row, ``res.estimate(label)`` any row;
* ``BaconDecomposition.summary`` is a :class:`SummaryTable`, a ``pandas.DataFrame`` subclass: the table by type
  (``res.summary.set_index("type")`` and every other pandas operation return plain DataFrames), and calling it,
  ``res.summary()``, returns the text summary that ``print(res)`` shows.

Sun–Abraham's names never collided, so its ``summary`` and ``estimate`` are the plain contract methods.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.errors import OptionError
from cteimpact.results.contract import ImpactResults
from cteimpact.results.estimate import EffectEstimate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cteimpact.did.panel import StaggeredData

__all__ = ["Coefficient", "ComparisonResults", "SummaryTable", "no_flow", "prepared_options"]


def no_flow() -> SampleFlow:
    """The sample flow of results built without their data (for example in tests)."""
    return SampleFlow("not recorded", 0)


def prepared_options(d: StaggeredData, **extra: Any) -> dict[str, Any]:
    """The data options every comparison records (columns used and data mode; the coding of categorical covariates
    when there is one), with ``extra``."""
    coding = {"covariate_coding": [f.to_dict() for f in d.covariate_coding]} if d.covariate_coding else {}
    return {"outcome": d.outcome, "unit": d.unit, "time": d.time, "cohort": d.cohort, "cluster": d.cluster,
            "weights": d.weights, "data_mode": d.mode, "anticipation": int(d.anticipation), **coding, **extra}



class Coefficient(float):
    """A coefficient that is a number and, called, the results-contract lookup of its result's rows.

    ``TWFEResult.estimate`` is one (see the module docstring): as a number it is the coefficient (arithmetic,
    comparisons, formatting, ``float()``, JSON and numpy all see a plain ``float``); called it returns an
    :class:`~cteimpact.results.estimate.EffectEstimate`.

    Parameters
    ----------
    value
        The coefficient.
    rows
        The estimate rows of the result it belongs to, the coefficient's own row first.

    Examples
    --------
    >>> row = EffectEstimate.from_normal("y[twfe]", "y", "TWFE coefficient", 0.5, 0.1)
    >>> b = Coefficient(0.5, (row,))
    >>> b + 1, b().label, b("y[twfe]").std_error
    (1.5, 'y[twfe]', 0.1)
    """

    __slots__ = ("_rows",)
    _rows: tuple[EffectEstimate, ...]

    def __new__(cls, value: float, rows: Sequence[EffectEstimate] = ()) -> Coefficient:
        self = super().__new__(cls, value)
        object.__setattr__(self, "_rows", tuple(rows))
        return self

    def __call__(self, label: str | None = None) -> EffectEstimate:
        """The row labelled ``label``, or (``None``) the coefficient's own row.

        Raises
        ------
        OptionError
            No row has that label (the message lists the labels), or the coefficient carries no rows.
        """
        if not self._rows:
            raise OptionError(f"the coefficient {float(self)!r} carries no estimate rows (it was built without its "
                              "result's contract rows)")
        if label is None:
            return self._rows[0]
        for e in self._rows:
            if e.label == label:
                return e
        raise OptionError(f"no estimate labelled '{label}'; available: {', '.join(e.label for e in self._rows)}")

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"a Coefficient is immutable (cannot set '{name}')")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"a Coefficient is immutable (cannot delete '{name}')")

    def __reduce__(self) -> tuple[type[Coefficient], tuple[float, tuple[EffectEstimate, ...]]]:
        return (Coefficient, (float(self), self._rows))


class SummaryTable(pd.DataFrame):
    """A table that, called, returns its result's text summary.

    ``BaconDecomposition.summary`` is one (see the module docstring). It is a ``pandas.DataFrame`` in every respect
    except that pandas operations on it (``set_index``, ``copy``, selection, arithmetic) return plain DataFrames,
    which do not carry the text (``copy.copy`` and ``copy.deepcopy``, which copy the result it belongs to, keep it);
    ``pandas.testing.assert_frame_equal`` against a plain DataFrame needs ``check_frame_type=False``. Build one with
    :meth:`wrap`.
    """

    # pandas pickles the attributes named in _metadata with the frame, so the text survives pickling
    _metadata: ClassVar[list[str]] = ["_summary_text"]
    _summary_text: str

    @property
    def _constructor(self) -> Callable[..., pd.DataFrame]:
        # frames derived by pandas operations are plain DataFrames: a derived table is no longer the one the text
        # describes (pandas' own default, stated here so that it is a decision, not an accident)
        return pd.DataFrame

    @classmethod
    def wrap(cls, table: pd.DataFrame, text: str) -> SummaryTable:
        """A copy of ``table`` that returns ``text`` when called."""
        out = cls(table, copy=True)
        object.__setattr__(out, "_summary_text", str(text))
        return out

    def __call__(self) -> str:
        """The text summary of the result this table belongs to."""
        return self._summary_text

    # copies of the result it belongs to (copy.copy, copy.deepcopy) keep the text; pandas' own copy() does not
    def __copy__(self) -> SummaryTable:
        return SummaryTable.wrap(self, self._summary_text)

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> SummaryTable:
        return SummaryTable.wrap(self, self._summary_text)


class ComparisonResults(ImpactResults):
    """Results contract of the comparison estimators (see the module docstring)."""

    options: Mapping[str, Any]
    sample_flow: SampleFlow

    @abstractmethod
    def record(self) -> dict[str, Any]:
        """The estimator's own numbers, as written in a difference-in-differences results file."""

    def _details(self) -> dict[str, Any]:
        return self.record()

    def summary(self) -> str:
        return self._default_summary(self._notes())

    def _notes(self) -> list[str]:
        return []

    def plot(self, *args: Any, **kwargs: Any) -> Figure:
        """The estimates with their intervals."""
        from cteimpact.plotting.estimates import plot_estimates

        return plot_estimates(self.estimates, **kwargs)
