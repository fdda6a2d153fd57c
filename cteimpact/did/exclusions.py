"""The working sample of :func:`cteimpact.did.panel.prepare_staggered_data` and its named exclusion rules.

:class:`WorkingSample` holds the rows being prepared (outcome, period, cohort, weights, covariates, student counts,
unit and cluster identifiers) and, once units are identified, each unit's cohort. Every exclusion goes through one
step, :meth:`WorkingSample.keep`, which keeps the rows of a mask, records the others in the sample flow under the
rule's reason, and re-indexes units and periods. The rules, applied in this order (see the module docstring of
:mod:`cteimpact.did.panel` for why each follows R ``did``):

1. :func:`drop_missing`: rows missing a needed value (one flow step per column);
2. :func:`recode_late_cohorts`: units first treated after the last period (plus anticipation) become never treated;
3. :func:`no_never_treated`: without never-treated units, the periods from the last cohort's treatment on;
4. :func:`drop_treated_at_start`: units already treated in the first period (minus anticipation);
5. :func:`balance_panel`: units missing in some period (unless unbalanced panels are allowed);
6. :func:`drop_cohorts_without_pre_period`: cohorts never observed before their treatment (unbalanced panels and
   repeated cross-sections).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.did.errors import CohortDroppedWarning
from cteimpact.errors import DataDroppedWarning, DesignError
from cteimpact.limits import COMPILED_FROM

__all__ = ["WorkingSample", "balance_panel", "drop_cohorts_without_pre_period", "drop_missing",
           "drop_treated_at_start", "index_dtype", "no_never_treated", "period_index", "recode_late_cohorts"]

_WARN_DEPTH = 5
"""Frames between :meth:`WorkingSample.warn` and the user's call: the rule, ``prepare_staggered_data``, the
estimator's constructor."""


@dataclass
class WorkingSample:
    """Rows being prepared, and (after :meth:`set_units`) the units they belong to.

    ``rows`` maps names (``y``, ``t``, ``g``, ``d``, ``w``, ``n_st``, ``aux:<name>``, ``x:<j>``, ``unit``,
    ``cluster``, ``pos``, ``codes`` and ``missing:<reason>``; ``t`` becomes ``t_idx`` once the periods are indexed,
    see :attr:`t_values`) to arrays with one entry per row; every one is filtered
    by :meth:`keep`. In panels, ``unit_cohort`` and ``unit_uniques`` hold one entry per unit (``codes`` index them);
    in repeated cross-sections each row is its own unit.
    """

    panel: bool
    rows: dict[str, np.ndarray]
    flow: SampleFlow
    notes: list[str] = field(default_factory=list)
    unit_cohort: np.ndarray | None = None
    unit_uniques: pd.Index | None = None
    unit_rows: np.ndarray | None = None
    """Each unit's number of rows when a pass over the rows counted them (:func:`cteimpact.did.panelscan.scan_units`);
    cleared when rows are excluded."""
    _times: np.ndarray | None = field(default=None, repr=False)
    _cohort_index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    # -- access ---------------------------------------------------------------------------------------------------
    def get(self, name: str) -> np.ndarray | None:
        return self.rows.get(name)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.rows[name]

    @property
    def size(self) -> int:
        return int(self.rows["y"].size)

    @property
    def codes(self) -> np.ndarray:
        """Unit of each row (index into the unit arrays)."""
        return self.rows["codes"] if self.panel else np.arange(self.size)

    @property
    def cohorts(self) -> np.ndarray:
        """Cohort of each unit (0 = never treated); in repeated cross-sections, of each row."""
        if self.panel:
            if self.unit_cohort is None:
                raise RuntimeError("internal error: units are not identified yet")
            return self.unit_cohort
        return self.rows["g"]

    @property
    def uniques(self) -> pd.Index:
        """Identifier of each unit (repeated cross-sections: the row's position in the data)."""
        if self.panel:
            if self.unit_uniques is None:
                raise RuntimeError("internal error: units are not identified yet")
            return self.unit_uniques
        return pd.Index(self.rows["pos"])

    @property
    def n_units(self) -> int:
        return int(self.cohorts.size)

    @property
    def row_cohort(self) -> np.ndarray:
        return self.cohorts[self.codes] if self.panel else self.rows["g"]

    @property
    def times(self) -> np.ndarray:
        """The distinct periods of the rows (sorted)."""
        return self._period_index()[0]

    @property
    def t_idx(self) -> np.ndarray:
        """Each row's index into :attr:`times`."""
        return self._period_index()[1]

    @property
    def t_values(self) -> np.ndarray:
        """Each row's period (a new array once the periods are indexed)."""
        if self._times is None:
            return self.rows["t"]
        return self._times[self.rows["t_idx"]]

    def _period_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Index the periods once: the period column is replaced by each row's index into the sorted periods
        (``rows["t_idx"]``, filtered with the other rows; :meth:`keep` drops the periods no row has left)."""
        if self._times is None:
            self._times, self.rows["t_idx"] = period_index(self.rows["t"])
            del self.rows["t"]
        return self._times, self.rows["t_idx"]

    @property
    def n_periods(self) -> int:
        return int(self.times.size)

    def cohort_index(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct cohorts (sorted) and each unit's index into them (repeated cross-sections: each row's);
        computed once for the current cohorts."""
        cohorts = self.cohorts
        if self._cohort_index is None or self._cohort_index[0] is not cohorts:
            values, codes = period_index(cohorts)
            self._cohort_index = (cohorts, values, codes)
        return self._cohort_index[1], self._cohort_index[2]

    # -- the one exclusion step -----------------------------------------------------------------------------------
    def keep(self, mask: np.ndarray | None, reason: str) -> int:
        """Keep the rows where ``mask`` holds, record the others in the sample flow as excluded for ``reason`` (a
        step is recorded even when none is excluded; ``mask=None`` keeps every row), and re-index units and periods.
        Returns the number excluded."""
        k = 0 if mask is None else int(mask.size - np.count_nonzero(mask))
        self.flow = self.flow.exclude(k, reason)
        if k and mask is not None:
            self.unit_rows = None
            self.rows = {name: v[mask] for name, v in self.rows.items()}
            self._reindex_units()
            if self._times is not None:
                # the periods left are those still indexed: one pass over the kept rows' indices, no sort
                t_idx = self.rows["t_idx"]
                present = np.bincount(t_idx, minlength=self._times.size) > 0
                if not present.all():
                    remap = (np.cumsum(present) - 1).astype(t_idx.dtype)
                    self.rows["t_idx"] = remap[t_idx]
                    self._times = self._times[present]
        return k

    def _reindex_units(self) -> None:
        if not self.panel or self.unit_cohort is None:
            return
        observed = np.bincount(self.rows["codes"], minlength=self.unit_cohort.size) > 0
        if observed.all():
            return
        remap = np.cumsum(observed) - 1
        self.rows["codes"] = remap[self.rows["codes"]]
        self.unit_cohort = self.unit_cohort[observed]
        self.unit_uniques = self.uniques[observed]

    def set_units(self, codes: np.ndarray, uniques: pd.Index, cohort: np.ndarray) -> None:
        """Panels: each row's unit code, the unit identifiers and each unit's cohort."""
        self.rows["codes"] = codes
        self.unit_uniques = uniques
        self.unit_cohort = cohort

    def set_cohorts(self, cohort: np.ndarray) -> None:
        """Replace every unit's cohort (repeated cross-sections: every row's)."""
        if self.panel:
            self.unit_cohort = cohort
        else:
            self.rows["g"] = cohort

    def warn(self, category: type[Warning], message: str, *, note: bool = True) -> None:
        """Announce an exclusion (and keep it among the notes of the results)."""
        if note:
            self.notes.append(message)
        warnings.warn(message, category, stacklevel=_WARN_DEPTH)


_DENSE_SPAN = 1 << 16
"""Largest span of whole-numbered periods (or unit identifiers, see :mod:`cteimpact.did.panel`) indexed by a
dense table rather than by hashing."""




def period_index(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values of ``t`` (no NaN) and each row's index into them (``np.unique`` with
    ``return_inverse``, without sorting the rows): whole-numbered periods within a small span are counted in a
    table, others hashed (:func:`pandas.factorize`) and the few distinct values sorted."""
    if t.size == 0:
        return np.unique(t), np.zeros(0, dtype=np.int8)
    compiled = t.dtype in (np.float64, np.int64) and t.ndim == 1 and t.size >= COMPILED_FROM
    lo, hi = float(t.min()), float(t.max())
    if hi - lo < _DENSE_SPAN and lo.is_integer() and abs(lo) < 2.0 ** 52:
        if compiled:
            from cteimpact.scan import dense_offsets

            # one pass: the counts of the span's values and each row's offset, which is its index when every value
            # of the span occurs (consecutive periods); otherwise the offsets are mapped to the ranks of those present
            span = int(hi - lo) + 1
            offsets = np.empty(t.size, dtype=index_dtype(span))
            counts = dense_offsets(t, lo, span, offsets)
            if counts.size:
                present = np.flatnonzero(counts)
                values = (lo + present.astype(float)).astype(t.dtype, copy=False)
                if present.size == span:
                    return values, offsets
                rank = np.arange(span, dtype=np.int64)
                rank[present] = np.arange(present.size)
                return values, rank.astype(index_dtype(present.size))[offsets]
            codes, uniques = pd.factorize(t, sort=True)
            return np.asarray(uniques), codes.astype(index_dtype(len(uniques)), copy=False)
        off = t - lo
        pos = off.astype(np.int64)
        if np.array_equal(pos, off):
            counts = np.bincount(pos, minlength=int(hi - lo) + 1)
            present = np.flatnonzero(counts)
            rank = np.zeros(counts.size, dtype=index_dtype(present.size))
            rank[present] = np.arange(present.size)
            return (lo + present.astype(float)).astype(t.dtype, copy=False), rank[pos]
    codes, uniques = pd.factorize(t, sort=True)
    return np.asarray(uniques), codes.astype(index_dtype(len(uniques)), copy=False)


def index_dtype(n: int) -> type[np.signedinteger]:
    """The smallest signed integer type that indexes ``n`` values (per-row indices take less memory)."""
    for dt in (np.int8, np.int16, np.int32):
        if n <= np.iinfo(dt).max:
            return dt
    return np.int64


# -- the rules -----------------------------------------------------------------------------------------------------
def drop_missing(s: WorkingSample, reasons: Sequence[str]) -> None:
    """Rows missing a needed value: one flow step per column (in ``reasons`` order, each counting the rows not
    already excluded), one warning for all."""
    n_rows = s.size
    dropped: list[str] = []
    for reason in reasons:
        missing = s[f"missing:{reason}"]
        k = s.keep(~missing if missing.any() else None, reason)
        if k:
            dropped.append(f"{k:,} with {reason}")
    s.rows = {name: v for name, v in s.rows.items() if not name.startswith("missing:")}
    if dropped:
        warnings.warn("dropped rows with missing values: " + "; ".join(dropped), DataDroppedWarning,
                      stacklevel=_WARN_DEPTH - 1)
    if s.size == 0:
        raise DesignError(f"no row of the {n_rows:,} has all of the needed values (outcome, time, cohort, ...)")


def recode_late_cohorts(s: WorkingSample, anticipation: int) -> None:
    """Units first treated after the last period (plus anticipation) are never treated in the data."""
    t_last = float(s.times[-1])
    late = s.cohorts > t_last + anticipation
    n_late = int(late.sum())
    if not n_late:
        return
    s.set_cohorts(np.where(late, 0.0, s.cohorts))
    what = "units" if s.panel else "observations"
    msg = (f"{n_late:,} {what} first treated after the last period {t_last:g}"
           + (f" plus anticipation {anticipation}" if anticipation else "") + " are treated as never treated")
    s.keep(None, msg)  # a recode: recorded in the flow, no row excluded
    s.warn(CohortDroppedWarning, msg)


def no_never_treated(s: WorkingSample, *, control: Literal["never", "notyet"], anticipation: int,
                              cohort_name: str) -> set[float]:
    """No never-treated unit: R ``did``'s rule (the last-treated cohort is the comparison group and the periods
    from its treatment on are dropped). Returns cohorts that serve only as comparisons (``control="notyet"``)."""
    cohorts = s.cohorts
    if np.any(cohorts == 0):
        return set()
    treated_cohorts = np.unique(cohorts)
    if treated_cohorts.size < 2:
        raise DesignError(
            f"no comparison units: all {s.n_units:,} units belong to cohort {float(treated_cohorts[0]):g} and none "
            f"is never treated (cohort {cohort_name}); difference-in-differences needs never-treated or "
            "later-treated units")
    latest = float(treated_cohorts.max())
    cutoff = latest - anticipation
    drop = s.t_values >= cutoff
    k = int(drop.sum())
    only_comparison: set[float] = set()
    if control == "never":
        msg = (f"no never-treated units: the last-treated cohort ({latest:g}) is used as the comparison group "
               f"and the {k:,} rows from period {cutoff:g} on are dropped (no comparison group there)")
        s.set_cohorts(np.where(cohorts == latest, 0.0, cohorts))
    else:
        msg = (f"no never-treated units: the {k:,} rows from period {cutoff:g} on are dropped (no not-yet-treated "
               f"comparison group there); cohort {latest:g} serves only as a comparison group")
        only_comparison.add(latest)
    s.warn(CohortDroppedWarning, msg)
    s.keep(~drop, msg)
    if s.size == 0:
        raise DesignError("no comparison units: no never-treated units and no period before the last cohort's "
                          "treatment; the design has no comparison group")
    return only_comparison


def drop_treated_at_start(s: WorkingSample, anticipation: int) -> None:
    """Units already treated in the first period (minus anticipation) have no pre-treatment period."""
    t_first = float(s.times[0])
    early_units = (s.cohorts != 0) & (s.cohorts <= t_first + anticipation)
    n_early = int(early_units.sum())
    if n_early:
        rows_early = early_units[s.codes]
        k = int(rows_early.sum())
        what = "units" if s.panel else "observations"
        msg = (f"dropped {n_early:,} {what} ({k:,} rows) already treated in the first period {t_first:g}"
               + (f" (accounting for anticipation {anticipation})" if anticipation else "")
               + ": they have no pre-treatment period")
        s.warn(CohortDroppedWarning, msg)
        s.keep(~rows_early, "already treated in the first period (no pre-treatment period)")
    if s.size == 0:
        raise DesignError("no rows left: every unit was treated in the first period")


def balance_panel(s: WorkingSample, allow_unbalanced: bool) -> Literal["panel", "unbalanced", "rcs"]:
    """Panels: units missing in some period are dropped (or kept: an unbalanced panel). Returns the data mode."""
    if not s.panel:
        return "rcs"
    n_t = s.n_periods
    rows_per_unit = s.unit_rows if s.unit_rows is not None else np.bincount(s.codes, minlength=s.n_units)
    incomplete = rows_per_unit < n_t
    n_inc = int(incomplete.sum())
    if not n_inc:
        return "panel"
    if allow_unbalanced:
        return "unbalanced"
    rows_out = incomplete[s.codes]
    k = int(rows_out.sum())
    msg = (f"{n_inc:,} units are missing in some of the {n_t} periods and were dropped to balance the panel "
           f"({k:,} rows); to keep them, set allow_unbalanced = true in [design] (command line: "
           "--allow-unbalanced; Python: allow_unbalanced=True)")
    s.warn(DataDroppedWarning, msg)
    s.keep(~rows_out, "unit not observed in every period (balanced panel)")
    if s.n_units == 0 or s.size == 0:
        raise DesignError("no unit is observed in every period: set allow_unbalanced = true in [design] "
                          "(command line: --allow-unbalanced; Python: allow_unbalanced=True)")
    return "panel"


def drop_cohorts_without_pre_period(s: WorkingSample, anticipation: int) -> None:
    """Unbalanced panels and repeated cross-sections: cohorts never observed before their treatment."""
    row_g = s.row_cohort
    t = s.t_values
    bad_cohorts = [float(c) for c in np.unique(row_g[row_g > 0]) if not (t[row_g == c] + anticipation < c).any()]
    if not bad_cohorts:
        return
    rows_bad = np.isin(row_g, bad_cohorts)
    k = int(rows_bad.sum())
    msg = (f"dropped cohorts {', '.join(f'{c:g}' for c in bad_cohorts)} ({k:,} rows): never observed before "
           "their treatment" + (" minus anticipation" if anticipation else ""))
    s.warn(CohortDroppedWarning, msg)
    s.keep(~rows_bad, "cohort never observed before its treatment")
