"""Thin adapter over ``rdmulti`` (Cattaneo, Titiunik & Vazquez-Bare 2020): RD designs with multiple cutoffs.

Two designs:

* **multiple cutoffs** (``rdmc``): each unit faces one cutoff (a column of the data); one rdrobust fit per cutoff
  on the units facing it, the *weighted* estimate (cutoff-specific estimates weighted by their share of the
  observations within the bandwidths) and the *pooled* estimate (one rdrobust fit on ``running - cutoff``);
* **cumulative cutoffs** (``rdms`` with one score): every unit faces all the cutoffs, the treatment changing at
  each; each cutoff is estimated on the units between its neighbouring cutoffs.

Inputs are validated float64 numpy arrays; the output is a frozen dataclass of plain Python numbers; rdmulti's
printed table is captured and its bare exceptions are translated into typed cteimpact errors. Options are passed
to every cutoff-specific rdrobust call and, for ``rdmc``, to the pooled call as well (rdmulti's own pooled call
otherwise uses rdrobust's defaults whatever the cutoff-specific options).
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cteimpact.errors import DesignError, OptionError
from cteimpact.rd.adapters._capture import DESIGN_RULES, ErrorRule, call_reference, import_quietly
from cteimpact.rd.adapters._translate import package_version, plain_fields

__all__ = ["CutoffEstimate", "MultiCutoffFit", "fit_cumulative_cutoffs", "fit_multiple_cutoffs",
           "rdmulti_version"]

_RULES: tuple[ErrorRule, ...] = (
    ErrorRule(r"outside range of running variable", DesignError,
              "{context}: a cutoff is not strictly inside the range of the running variable ({msg})"),
    *DESIGN_RULES,
)

_KERNELS = {"triangular": "tri", "epanechnikov": "epa", "uniform": "uni"}


def rdmulti_version() -> str:
    """Installed rdmulti version (from the package metadata)."""
    return package_version("rdmulti")


@dataclass(frozen=True, slots=True)
class CutoffEstimate:
    """One row of a multi-cutoff analysis: a cutoff-specific, the weighted or the pooled estimate.

    ``estimate``/``se``/``p_value``/``ci`` are conventional; ``estimate_bc``/``se_robust``/``p_robust``/
    ``ci_robust`` robust bias-corrected. ``h`` and ``b`` are ``None`` for the weighted row (it has no bandwidth of
    its own); ``weight`` is set on cutoff-specific rows of ``rdmc`` only.
    """

    label: str
    kind: str
    cutoff: float | None
    estimate: float
    estimate_bc: float
    se: float
    se_robust: float
    p_value: float
    p_robust: float
    ci: tuple[float, float]
    ci_robust: tuple[float, float]
    h: tuple[float, float] | None
    b: tuple[float, float] | None
    n_h: tuple[int, int]
    weight: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self)


@dataclass(frozen=True, slots=True)
class MultiCutoffFit:
    """rdmulti's output translated: the rows in order (cutoffs ascending, then ``weighted`` and ``pooled`` for
    multiple cutoffs), the cutoffs, the options the calls were made with and what rdmulti printed."""

    rows: tuple[CutoffEstimate, ...]
    cumulative: bool
    cutoffs: tuple[float, ...]
    deriv: int
    level: float
    options: dict[str, Any]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self)


def _checked(y: np.ndarray, x: np.ndarray, context: str, **others: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    yv, xv = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    if yv.ndim != 1 or xv.shape != yv.shape:
        raise DesignError(f"{context}: outcome and running variable must be 1-D of the same length "
                          f"(got {yv.shape} and {xv.shape})")
    for name, arr in {"outcome": yv, "running variable": xv}.items():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            raise DesignError(f"{context}: the {name} has {bad} missing or non-finite values of {arr.size}")
    for name, other in others.items():
        if other is not None and len(other) != yv.size:
            raise DesignError(f"{context}: {name} has {len(other)} values, the outcome {yv.size}")
    return yv, xv


def _vec(n: int, value: Any) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = [value] * n
    return out


def _per_cutoff_kwargs(n: int, opts: dict[str, Any]) -> dict[str, Any]:
    """rdmulti's cutoff-specific ``*vec`` arguments, every cutoff with the same option."""
    return {"pvec": _vec(n, opts["p"]), "qvec": _vec(n, opts["q"]), "derivvec": _vec(n, opts["deriv"]),
            "kernelvec": _vec(n, _KERNELS[opts["kernel"]]), "bwselectvec": _vec(n, opts["bwselect"]),
            "vcevec": _vec(n, opts["vce"]), "nnmatchvec": _vec(n, opts["nnmatch"]),
            "masspointsvec": _vec(n, opts["masspoints"]), "bwcheckvec": _vec(n, opts["bwcheck"]),
            "bwrestrictvec": _vec(n, opts["bwrestrict"]), "stdvarsvec": _vec(n, opts["stdvars"]),
            "scaleregulvec": _vec(n, opts["scaleregul"])}


def _options(p: int, q: int | None, deriv: int, kernel: str, bwselect: str, vce: str, nnmatch: int, level: float,
             masspoints: str, bwcheck: int | None, bwrestrict: bool, stdvars: bool, scaleregul: float,
             context: str) -> dict[str, Any]:
    if kernel not in _KERNELS:
        raise DesignError(f"{context}: kernel must be one of {', '.join(_KERNELS)}, got {kernel!r}")
    return {"p": int(p), "q": int(p) + 1 if q is None else int(q), "deriv": int(deriv), "kernel": kernel,
            "bwselect": str(bwselect), "vce": str(vce), "nnmatch": int(nnmatch), "level": float(level),
            "masspoints": str(masspoints), "bwcheck": None if bwcheck is None else int(bwcheck),
            "bwrestrict": bool(bwrestrict), "stdvars": bool(stdvars), "scaleregul": float(scaleregul)}


_POOLED_OPTION_TEXT = re.compile(r"[A-Za-z0-9_=',.+\-]*")
"""What the ``pooled_opt`` text may hold: keyword names, numbers, quoted names from closed sets, commas."""


def _pooled_options(opts: dict[str, Any], clustered: bool) -> str:
    """rdmc's ``pooled_opt`` (a keyword-argument string it evaluates): built only from validated numbers, booleans
    and names from closed sets, never from user text."""
    parts = [f"p={opts['p']}", f"q={opts['q']}", f"deriv={opts['deriv']}", f"kernel='{_KERNELS[opts['kernel']]}'",
             f"bwselect='{opts['bwselect']}'", f"vce='{opts['vce']}'", f"nnmatch={opts['nnmatch']}",
             f"level={opts['level']!r}", f"masspoints='{opts['masspoints']}'", f"bwrestrict={opts['bwrestrict']}",
             f"stdvars={opts['stdvars']}", f"scaleregul={opts['scaleregul']!r}"]
    if opts["bwcheck"] is not None:
        parts.append(f"bwcheck={opts['bwcheck']}")
    if clustered:
        parts.append("cluster=cluster")
    text = ",".join(parts)
    if not _POOLED_OPTION_TEXT.fullmatch(text):  # second guard: rdmc evaluates this text
        raise OptionError(f"rdmc pooled options contain characters other than names, numbers and quotes: {text!r}")
    return text


def _row(out: Any, col: str, label: str, kind: str, cutoff: float | None, weight: float | None) -> CutoffEstimate:
    def num(frame: Any, i: int = 0) -> float:
        return float(np.asarray(frame[col], dtype=float)[i])

    h = None if kind == "weighted" else (num(out["H"], 0), num(out["H"], 1))
    b = None if kind == "weighted" else (num(out["Bbw"], 0), num(out["Bbw"], 1))
    return CutoffEstimate(
        label=label, kind=kind, cutoff=cutoff, estimate=num(out["Coefs"]), estimate_bc=num(out["B"]),
        se=float(np.sqrt(num(out["V_cl"]))), se_robust=float(np.sqrt(num(out["V"]))), p_value=num(out["Pv_cl"]),
        p_robust=num(out["Pv"]), ci=(num(out["CI_cl"], 0), num(out["CI_cl"], 1)),
        ci_robust=(num(out["CI"], 0), num(out["CI"], 1)), h=h, b=b,
        n_h=(round(num(out["Nh"], 0)), round(num(out["Nh"], 1))), weight=weight)


def _fmt(value: float) -> str:
    return f"{value:g}"


def fit_multiple_cutoffs(
    y: np.ndarray,
    x: np.ndarray,
    cutoff: np.ndarray,
    *,
    fuzzy: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    p: int = 1,
    q: int | None = None,
    deriv: int = 0,
    kernel: str = "triangular",
    bwselect: str = "mserd",
    vce: str = "nn",
    nnmatch: int = 3,
    level: float = 95.0,
    masspoints: str = "adjust",
    bwcheck: int | None = None,
    bwrestrict: bool = True,
    stdvars: bool = True,
    scaleregul: float = 1.0,
    context: str = "rdmc",
) -> MultiCutoffFit:
    """Run ``rdmulti.rdmc`` (each row faces the cutoff in ``cutoff``) and translate its output.

    Raises
    ------
    DesignError
        Fewer than two distinct cutoffs, missing values, a cutoff outside the running variable's range, or a
        cutoff where rdrobust could not run (rdmc would report it as a missing row; here it is an error naming it).
    EstimationError
        Any other failure inside rdmulti/rdrobust.
    """
    yv, xv = _checked(y, x, context, cutoff=cutoff, fuzzy=fuzzy, cluster=cluster)
    cv = np.asarray(cutoff, dtype=float)
    bad = int(np.count_nonzero(~np.isfinite(cv)))
    if bad:
        raise DesignError(f"{context}: the cutoff column has {bad} missing or non-finite values of {cv.size}")
    clist = np.unique(cv)
    if clist.size < 2:
        raise DesignError(f"{context}: the cutoff column has {clist.size} distinct value"
                          f"{'s' if clist.size != 1 else ''}; a multi-cutoff design needs at least 2 (use the "
                          "single-cutoff estimator otherwise)")
    opts = _options(p, q, deriv, kernel, bwselect, vce, nnmatch, level, masspoints, bwcheck, bwrestrict, stdvars,
                    scaleregul, context)
    rdmc = import_quietly("rdmulti").rdmc
    kwargs: dict[str, Any] = {**_per_cutoff_kwargs(clist.size, opts), "level": opts["level"],
                              "pooled_opt": _pooled_options(opts, cluster is not None)}
    if fuzzy is not None:
        kwargs["fuzzy"] = np.asarray(fuzzy, dtype=float)
    if cluster is not None:
        kwargs["cluster"] = np.asarray(cluster)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res, outcome = call_reference(rdmc, yv, xv, cv, context=context, rules=_RULES, stacklevel=4, **kwargs)
    failed = [float(c) for c in np.atleast_1d(np.asarray(res.cfail, dtype=float))]
    if failed:  # an error naming the cutoffs, instead of rdmc's warning and a row of missing values
        counts = ", ".join(f"{_fmt(c)} ({int(np.count_nonzero(cv == c))} rows)" for c in failed)
        raise DesignError(f"{context}: rdrobust could not estimate the effect at {len(failed)} of {clist.size} "
                          f"cutoffs: {counts}; too few observations near those cutoffs")
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    out = {name: getattr(res, name)[0] for name in ("B", "V", "Coefs", "V_cl", "Nh", "CI", "CI_cl", "H", "Bbw",
                                                     "Pv", "Pv_cl")}
    weights = np.asarray(res.W[0], dtype=float).reshape(-1)
    rows = [_row(out, str(k + 1), f"cutoff={_fmt(float(c))}", "cutoff", float(c), float(weights[k]))
            for k, c in enumerate(clist)]
    rows.append(_row(out, "weighted", "weighted", "weighted", None, None))
    rows.append(_row(out, "pooled", "pooled", "pooled", None, None))
    return MultiCutoffFit(rows=tuple(rows), cumulative=False, cutoffs=tuple(float(c) for c in clist),
                          deriv=opts["deriv"], level=opts["level"], options=opts, notes=outcome.notes,
                          warnings=outcome.warnings)


def cumulative_ranges(x: np.ndarray, cutoffs: Sequence[float]) -> np.ndarray:
    """The sample of each cutoff in a cumulative design: from the cutoff below (inclusive; the whole left tail for
    the first) to just below the cutoff above (the whole right tail for the last), so that each fit compares only
    the two treatment levels adjacent to its cutoff."""
    cs = [float(c) for c in cutoffs]
    lo = [-np.inf, *cs[:-1]]
    hi = [float(np.nextafter(c, -np.inf)) for c in cs[1:]] + [np.inf]
    return np.column_stack([np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)])


def fit_cumulative_cutoffs(
    y: np.ndarray,
    x: np.ndarray,
    cutoffs: Sequence[float],
    *,
    fuzzy: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    p: int = 1,
    q: int | None = None,
    deriv: int = 0,
    kernel: str = "triangular",
    bwselect: str = "mserd",
    vce: str = "nn",
    nnmatch: int = 3,
    level: float = 95.0,
    masspoints: str = "adjust",
    bwcheck: int | None = None,
    bwrestrict: bool = True,
    stdvars: bool = True,
    scaleregul: float = 1.0,
    context: str = "rdms",
) -> MultiCutoffFit:
    """Run ``rdmulti.rdms`` for cumulative cutoffs on one running variable (samples from
    :func:`cumulative_ranges`) and translate its output (cutoff-specific rows only: rdms pools cumulative cutoffs
    only on a user-normalised score).

    Raises
    ------
    DesignError
        Fewer than two cutoffs, repeated or unsorted cutoffs, a cutoff outside the data, missing values, or a
        cutoff with too few observations between its neighbours.
    """
    yv, xv = _checked(y, x, context, fuzzy=fuzzy, cluster=cluster)
    cs = [float(c) for c in cutoffs]
    if len(cs) < 2:
        raise DesignError(f"{context}: cumulative cutoffs need at least 2 cutoffs, got {len(cs)}")
    if any(not np.isfinite(c) for c in cs) or any(b <= a for a, b in itertools.pairwise(cs)):
        raise DesignError(f"{context}: the cutoffs must be finite and strictly increasing, got {cs}")
    lo, hi = float(np.min(xv)), float(np.max(xv))
    outside = [c for c in cs if not lo < c < hi]
    if outside:
        raise DesignError(f"{context}: cutoffs {[_fmt(c) for c in outside]} are not strictly inside the range of "
                          f"the running variable ({_fmt(lo)} to {_fmt(hi)})")
    opts = _options(p, q, deriv, kernel, bwselect, vce, nnmatch, level, masspoints, bwcheck, bwrestrict, stdvars,
                    scaleregul, context)
    rdms = import_quietly("rdmulti").rdms
    kwargs: dict[str, Any] = {**_per_cutoff_kwargs(len(cs), opts), "level": opts["level"],
                              "rangemat": cumulative_ranges(xv, cs)}
    if fuzzy is not None:
        kwargs["fuzzy"] = np.asarray(fuzzy, dtype=float)
    if cluster is not None:
        kwargs["cluster"] = np.asarray(cluster)
    res, outcome = call_reference(rdms, yv, xv, np.asarray(cs, dtype=float), context=context, rules=_RULES,
                                  stacklevel=4, **kwargs)
    rows = tuple(_row(res, str(k + 1), f"cutoff={_fmt(c)}", "cutoff", c, None) for k, c in enumerate(cs))
    return MultiCutoffFit(rows=rows, cumulative=True, cutoffs=tuple(cs), deriv=opts["deriv"], level=opts["level"],
                          options=opts, notes=outcome.notes, warnings=outcome.warnings)
