"""Top-level convenience entry points: :func:`rd`, :func:`did` and :func:`price`.

Each builds the estimator object of its design, passes every option to the constructor or to ``fit()`` (whichever
declares it), and returns the fitted results. An unknown option is refused with a
:class:`~cteimpact.errors.OptionError` that names it, suggests the closest valid name, and says when the option
belongs to the other design. The estimators are imported on first use, so ``import cteimpact`` stays light (and
nothing here imports matplotlib).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cteimpact.config.declared import unknown_option_message
from cteimpact.errors import OptionError

if TYPE_CHECKING:
    import ibis
    import pandas as pd

    from cteimpact.config.design_options import Design
    from cteimpact.data.student_data import StudentData
    from cteimpact.did.results import DiDResults
    from cteimpact.pricing.contract import Contract
    from cteimpact.pricing.results import PricingResults
    from cteimpact.rd.results import RDResults
    from cteimpact.results.contract import HasSamplingDistribution

__all__ = ["did", "price", "rd"]

_RENAMED = {
    "rd": {"running": "score", "outcomes": "outcome"},
    "did": {"group": "cohort", "first_treat": "cohort", "tname": "time", "idname": "unit", "yname": "outcome"},
    "price": {"estimates": "results", "n_draws": "draws"},
}
"""Names people bring from the estimator classes or from R, and the name these functions use (``alpha`` where a
confidence level is meant: :data:`cteimpact.config.declared.RETIRED`, the message every interface gives)."""


def _keywords(func: Callable[..., Any], skip: Sequence[str]) -> tuple[list[str], bool]:
    """Keyword names ``func`` accepts (minus ``skip``), and whether it takes ``**kwargs``."""
    params = inspect.signature(func).parameters.values()
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
             and p.name not in ("self", *skip)]
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def _unknown(name: str, design: str, valid: Sequence[str], other: Mapping[str, Sequence[str]]) -> OptionError:
    renamed = _RENAMED.get(design, {}).get(name)
    if renamed is not None:
        return OptionError(f"unknown option '{name}' for cteimpact.{design}(): it is called '{renamed}' here")
    for other_design, names in other.items():
        if name in names:
            return OptionError(f"option '{name}' belongs to cteimpact.{other_design}(), not cteimpact.{design}()")
    return OptionError(unknown_option_message(name, valid, where=f"cteimpact.{design}()"))


def _split(options: Mapping[str, Any], design: Design, init: Callable[..., Any], fit: Callable[..., Any], *,
           skip: Sequence[str], public: Sequence[str],
           other: Mapping[str, Sequence[str]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Options for the constructor and for ``fit()`` (constructor first when both declare a name).

    ``skip``: constructor parameters the entry point sets itself; ``public``: the entry point's own names for them.
    """
    init_names, _ = _keywords(init, ("data", *skip))
    fit_names, fit_takes_any = _keywords(fit, ())
    init_declared, fit_declared = _declared_options(design)
    init_names += init_declared  # the constructor takes its declared options as keywords
    if fit_declared:  # fit() takes its declared options as keywords: those, and no others, go to it
        fit_names, fit_takes_any = [*fit_names, *fit_declared], False
    valid = [*public, *init_names, *fit_names]
    init_kw: dict[str, Any] = {}
    fit_kw: dict[str, Any] = {}
    for name, value in options.items():
        if name in init_names:
            init_kw[name] = value
        elif name in fit_names or fit_takes_any:
            fit_kw[name] = value
        else:
            raise _unknown(name, design, valid, other)
    return init_kw, fit_kw


_RD_SKIP = ("outcomes", "running", "cutoff")
_RD_PUBLIC = ("outcome", "score", "cutoff")
_DID_PUBLIC = ("outcome", "time", "unit", "cohort")


def _declared_options(design: Design) -> tuple[list[str], list[str]]:
    """The options the constructor and ``fit()`` of ``design`` take as keywords from their declarations
    (:mod:`cteimpact.config.declared`)."""
    from cteimpact.config.declared import declared
    from cteimpact.config.design_options import declared_options

    init, fit = declared_options(design)
    return [o.name for c in init for o in declared(c)], [o.name for c in fit for o in declared(c)]


def _rd_option_names() -> list[str]:
    from cteimpact.config.design_options import estimator_option_names

    return [*_RD_PUBLIC, *(n for n in estimator_option_names("rd") if n not in _RD_SKIP)]


def _did_option_names() -> list[str]:
    from cteimpact.config.design_options import estimator_option_names

    return [*_DID_PUBLIC, *estimator_option_names("did")]


def rd(data: pd.DataFrame | StudentData | ibis.Table, *, outcome: str | Sequence[str], score: str,
       cutoff: float | None = None, **options: Any) -> RDResults:
    """Fit a regression discontinuity design: :class:`~cteimpact.rd.RegressionDiscontinuity` then ``fit()``.

    Parameters
    ----------
    data
        A pandas DataFrame, a :class:`~cteimpact.data.StudentData` (its sample flow is continued), or an Ibis
        table (:mod:`cteimpact.backends`): ``where`` is then evaluated by the engine, which counts the sample flow,
        and only the columns the call names are pulled, at most ``max_rows_pulled`` rows (default 5,000,000).
    outcome
        Outcome column, or several.
    score
        Running variable (score) column.
    cutoff
        The cutoff on the score (or give ``cutoff_column=`` for multi-cutoff data).
    **options
        Any option of :class:`~cteimpact.rd.RegressionDiscontinuity` (``fuzzy``, ``cluster``, ``covariates``,
        ``where``...) or of its ``fit()`` (``p``, ``kernel``, ``bwselect``, ``level``, ``diagnostics``...).

    Returns
    -------
    RDResults

    Raises
    ------
    OptionError
        An unknown option (the message names it and the closest valid one, or says it is a DiD option), or an
        invalid value; the estimator's own errors for data that cannot support the design.
    """
    from cteimpact.rd.estimator import RegressionDiscontinuity

    limit = options.pop("max_rows_pulled", None)
    init_kw, fit_kw = _split(options, "rd", RegressionDiscontinuity.__init__, RegressionDiscontinuity.fit,
                             skip=_RD_SKIP, public=_RD_PUBLIC, other={"did": _did_option_names()})
    outcomes = [outcome] if isinstance(outcome, str) else list(outcome)
    data, init_kw = _from_table(data, init_kw, [*outcomes, score], limit, "regression discontinuity: the local "
                                "polynomial fits run on the rows")
    return RegressionDiscontinuity(data, outcome, score, cutoff, **init_kw).fit(**fit_kw)


def did(data: pd.DataFrame | StudentData | ibis.Table, *, outcome: str, time: str, unit: str | None = None,
        cohort: str | None = None, **options: Any) -> DiDResults:
    """Fit a staggered difference-in-differences design: :class:`~cteimpact.did.CallawaySantAnna` then ``fit()``.

    Parameters
    ----------
    data
        Long data: one row per unit and period (panel) or per observation (repeated cross-sections): a pandas
        DataFrame, a StudentData, or an Ibis table (``where`` evaluated and the sample flow counted by the engine,
        only the named columns pulled, at most ``max_rows_pulled`` rows).
    outcome, time, unit
        Outcome, period and unit-identifier columns.
    cohort
        First treated period of each unit (0 or infinity: never treated); or give ``treatment=``.
    **options
        Any option of :class:`~cteimpact.did.CallawaySantAnna` (``cluster``, ``control``, ``method``,
        ``covariates``, ``where``...) or of its ``fit()`` (``level``, ``bootstrap``, ``min_e``, ``max_e``...).

    Returns
    -------
    DiDResults

    Raises
    ------
    OptionError
        An unknown option (the message names it and the closest valid one, or says it is an RD option), or an
        invalid value; the estimator's own errors for data that cannot support the design.
    """
    from cteimpact.did.estimator import CallawaySantAnna

    limit = options.pop("max_rows_pulled", None)
    init_kw, fit_kw = _split(options, "did", CallawaySantAnna.__init__, CallawaySantAnna.fit,
                             skip=_DID_PUBLIC, public=_DID_PUBLIC, other={"rd": _rd_option_names()})
    estimation = init_kw.get("estimation")
    panel = bool(init_kw.get("panel", True if estimation is None else estimation.panel))
    # the sample flow of an engine's table counts what the in-memory path and the command line count
    data, init_kw = _from_table(data, init_kw, [c for c in (outcome, time, unit, cohort) if c], limit,
                                "difference-in-differences: the estimator runs on the rows",
                                unit="unit-periods" if panel else "observations")
    return CallawaySantAnna(data, outcome=outcome, time=time, unit=unit, cohort=cohort, **init_kw).fit(**fit_kw)


def _from_table(data: Any, init_kw: dict[str, Any], named: list[str], limit: int | None,
                why: str, *, unit: str = "rows") -> tuple[Any, dict[str, Any]]:
    """An Ibis table as the estimator's data: ``where`` evaluated by the engine, then only the columns the call
    names (its column arguments and every option value that is a column of the table) pulled, within ``limit``
    rows (the ``max_rows_pulled`` option; default :data:`cteimpact.backends.DEFAULT_MAX_ROWS_PULLED`); ``unit``:
    what the sample flow counts. Anything else is returned unchanged."""
    from cteimpact.backends.loading import is_ibis_table

    if not is_ibis_table(data):
        if limit is not None:
            raise OptionError("max_rows_pulled applies to an Ibis table (data read from an engine); the data given "
                              f"are a {type(data).__name__}")
        return data, init_kw
    from cteimpact.backends.loading import table_student_data
    from cteimpact.backends.source import DEFAULT_MAX_ROWS_PULLED

    kw = dict(init_kw)
    where = kw.pop("where", None)
    limit = DEFAULT_MAX_ROWS_PULLED if limit is None else limit
    available = set(data.columns)
    wanted = list(named)
    for value in kw.values():
        values = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
        wanted += [v for v in values if isinstance(v, str) and v in available]
    return table_student_data(data, list(dict.fromkeys(wanted)), where=where, max_rows=limit, why=why,
                              unit=unit), kw


def _contract(contract: Contract | Mapping[str, Any] | str | Path) -> Contract | Mapping[str, Any] | str | Path:
    """A shipped example's path when ``contract`` is an example's name rather than a file."""
    if isinstance(contract, str) and not Path(contract).exists():
        from cteimpact.pricing import example_contract, example_names

        if contract in example_names():
            return example_contract(contract)
        if not contract.endswith(".toml") and "/" not in contract and "\\" not in contract:
            raise OptionError(f"contract '{contract}' is neither a file nor a shipped example; examples: "
                              f"{', '.join(example_names())}")
    return contract


def price(results: HasSamplingDistribution | Sequence[HasSamplingDistribution],
          contract: Contract | Mapping[str, Any] | str | Path, **options: Any) -> PricingResults:
    """Price a Pay-for-Success contract on estimated impacts: :func:`cteimpact.pricing.price_contract`.

    Parameters
    ----------
    results
        A fitted RD or DiD result, a :class:`~cteimpact.results.ResultsRecord`, an
        :class:`~cteimpact.results.ExternalEstimate`, or several of them.
    contract
        A :class:`~cteimpact.pricing.Contract`, a contract TOML file, a mapping, or the name of a shipped example
        (see :func:`cteimpact.pricing.example_names`).
    **options
        Options of :func:`~cteimpact.pricing.price_contract`: ``draws``, ``seed``, ``labels``, ``mde``,
        ``economics``.

    Returns
    -------
    PricingResults
    """
    from cteimpact.pricing.montecarlo import price_contract

    names, _ = _keywords(price_contract, ("contract", "estimates"))
    for name in options:
        if name not in names:
            raise _unknown(name, "price", names, {"rd": _rd_option_names(), "did": _did_option_names()})
    return price_contract(_contract(contract), results, **options)
