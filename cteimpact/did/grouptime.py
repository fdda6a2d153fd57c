"""Group-time average treatment effects ATT(g,t) of Callaway & Sant'Anna (2021) with their influence functions.

For each treated cohort ``g`` and period ``t`` the effect is a 2×2 difference-in-differences between cohort ``g``
and a comparison group, from a base period ``b`` to ``t`` (:mod:`cteimpact.did.twobytwo`):

* base period (``base_period``): in post-treatment periods (``t >= g``) always the last period before
  ``g - anticipation``; in pre-treatment periods either the previous period (``"varying"``, short differences,
  R ``did``'s default) or the same base as the post-periods (``"universal"``; the cell ``t = b`` is then reported
  as exactly 0 with no standard error);
* comparison group (``control``): never-treated units (``"never"``), or never-treated units and the cohorts not yet
  treated by ``max(t, b) + anticipation`` (``"notyet"``, excluding cohort ``g`` itself);
* covariates enter through the 2×2 estimator (values of the earlier of the two periods, as R ``did`` does).

The influence function of each cell is rescaled by ``n / n_1`` (units in the data over units in the comparison), so
that all cells share one denominator and the variance of any linear combination is ``mean(IF²) / n``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cteimpact.did.errors import CellNotEstimatedWarning
from cteimpact.did.influence import InfluenceFunctions
from cteimpact.did.panel import StaggeredData, present
from cteimpact.did.twobytwo import (
    CellFailure,
    Method,
    PanelSample,
    PropensityParts,
    did_panel,
    did_rcs,
    propensity_parts,
)
from cteimpact.did.wild import ScoreParts

__all__ = ["BasePeriod", "Cell", "CellEstimates", "ControlGroup", "enumerate_cells", "estimate_cells", "score_parts"]

BasePeriod = Literal["varying", "universal"]
ControlGroup = Literal["never", "notyet"]


@dataclass(frozen=True, slots=True)
class Cell:
    """One group-time cell.

    Attributes
    ----------
    group, time, base
        Cohort, period and base period (values, not indices).
    t_idx, b_idx
        Indices of ``time`` and ``base`` in the period list.
    post
        ``time >= group`` (a treatment effect rather than a placebo).
    reference
        The universal base period itself (effect 0 by construction).
    controls
        Cohorts used as comparison units (0 = never treated).
    """

    group: float
    time: float
    base: float
    t_idx: int
    b_idx: int
    post: bool
    reference: bool
    controls: tuple[float, ...]

    @property
    def event_time(self) -> float:
        return self.time - self.group


def enumerate_cells(times: np.ndarray, groups: np.ndarray, cohorts: np.ndarray, *, anticipation: float,
                    base_period: BasePeriod, control: ControlGroup) -> list[Cell]:
    """All group-time cells in R ``did``'s order (by cohort, then period)."""
    cells: list[Cell] = []
    other = [float(c) for c in np.unique(cohorts) if c != 0]
    has_never = bool(np.any(cohorts == 0))
    for g in groups:
        g = float(g)
        pre_idx = np.flatnonzero(times + anticipation < g)
        if pre_idx.size == 0:
            continue
        pret_g = int(pre_idx[-1])
        t_range = range(1, times.size) if base_period == "varying" else range(times.size)
        for ti in t_range:
            tv = float(times[ti])
            post = g <= tv
            bi = pret_g if (post or base_period == "universal") else ti - 1
            reference = base_period == "universal" and bi == ti
            threshold = max(tv, float(times[bi])) + anticipation
            ctrl: tuple[float, ...] = (0.0,) if has_never else ()
            if control == "notyet":
                ctrl = ctrl + tuple(c for c in other if c > threshold and c != g)
            cells.append(Cell(g, tv, float(times[bi]), ti, bi, post, reference, ctrl))
    return cells


@dataclass(frozen=True, eq=False)
class CellEstimates:
    """Estimates of all cells: ``att`` (NaN where a cell could not be estimated), counts of treated and
    comparison units (or observations), failure reasons and the influence functions."""

    cells: tuple[Cell, ...]
    att: np.ndarray
    n_treated: np.ndarray
    n_control: np.ndarray
    failures: dict[int, str]
    influence: InfluenceFunctions

    @property
    def estimated(self) -> np.ndarray:
        """Cells with an estimate (not failed); reference cells count as estimated (effect 0)."""
        return ~np.isnan(self.att)


def _segment_users(data: StaggeredData, cells: Sequence[Cell]) -> list[list[int]]:
    users: list[list[int]] = [[] for _ in range(data.seg_cohort.size)]
    for k, c in enumerate(cells):
        if c.reference:
            continue
        cohorts = (c.group, *c.controls)
        for s in range(data.seg_cohort.size):
            if data.seg_cohort[s] not in cohorts:
                continue
            if data.mode == "rcs" and data.seg_time[s] not in (c.t_idx, c.b_idx):
                continue
            users[s].append(k)
    return users


def estimate_cells(data: StaggeredData, cells: Sequence[Cell], *, method: Method = "dr",
                   trim_level: float = 0.995) -> CellEstimates:
    """Estimate every cell and collect the influence functions (see the module docstring)."""
    n_seg = data.seg_cohort.size
    users = _segment_users(data, cells)
    seg_cols = tuple(np.asarray(u, dtype=np.int64) for u in users)
    # column-major blocks of the extended base (see InfluenceFunctions.seg_blocks): each cell writes its influence
    # function into one contiguous column; the weight and constant columns are filled here
    bounds = data.seg_bounds
    seg_blocks = tuple(InfluenceFunctions.empty_block(data.seg_cohort[s], len(users[s]), data.groups,
                                                      data.row_weight[int(bounds[s]):int(bounds[s + 1])])
                       for s in range(n_seg))
    seg_vals = tuple(block[:, :len(users[s])] for s, block in enumerate(seg_blocks))
    col_pos = [{k: j for j, k in enumerate(u)} for u in users]
    seg_of_cohort: dict[float, list[int]] = {}
    for s in range(n_seg):
        seg_of_cohort.setdefault(float(data.seg_cohort[s]), []).append(s)

    att = np.full(len(cells), np.nan)
    n_t = np.zeros(len(cells), dtype=np.int64)
    n_c = np.zeros(len(cells), dtype=np.int64)
    failures: dict[int, str] = {}
    if data.mode == "panel":
        y_by_t = np.ascontiguousarray(data.y_wide.T) if data.y_wide is not None else None
        w_by_t = np.ascontiguousarray(data.w_wide.T) if data.w_wide is not None else None
        samples = _Samples(data, w_by_t, method, trim_level)
        unit_weights = w_by_t is None and bool(np.all(data.row_weight == 1.0))

        def estimate_cell(cell: Cell, k: int) -> tuple[float, int, int]:
            return _panel_cell(data, cell, k, y_by_t, w_by_t, seg_of_cohort, seg_vals, col_pos, method, trim_level,
                               samples, unit_weights=unit_weights)
    else:

        def estimate_cell(cell: Cell, k: int) -> tuple[float, int, int]:
            return _rcs_cell(data, cell, k, seg_of_cohort, seg_vals, col_pos, method, trim_level)

    for k, cell in enumerate(cells):
        if cell.reference:
            att[k] = 0.0
            continue
        try:
            att[k], n_t[k], n_c[k] = estimate_cell(cell, k)
        except CellFailure as exc:
            failures[k] = exc.reason
    if failures:
        listed = "; ".join(f"(g={cells[k].group:g}, t={cells[k].time:g}): {r}" for k, r in list(failures.items())[:6])
        more = f" and {len(failures) - 6} more" if len(failures) > 6 else ""
        warnings.warn(f"{len(failures)} group-time effects could not be estimated and are left out of every "
                      f"aggregation: {listed}{more}", CellNotEstimatedWarning, stacklevel=3)
    infl = InfluenceFunctions(n=data.n, n_cells=len(cells), seg_bounds=data.seg_bounds, seg_cohort=data.seg_cohort,
                              seg_cols=seg_cols, seg_vals=seg_vals, row_weight=data.row_weight,
                              groups=data.groups, seg_blocks=seg_blocks)
    return CellEstimates(tuple(cells), att, n_t, n_c, failures, infl)


class _Samples:
    """The 2×2 samples of the balanced-panel cells with covariates, and their propensity scores, built once for the
    cells that share them.

    A cell's sample is its cohort's and its comparison cohorts' units, with the covariates and weights of the
    earlier of its two periods; the propensity score depends on nothing else. So cells with the same cohorts share
    both when the covariates and weights are the same in every period (time-invariant: each cohort's cells against
    the never-treated units, or against the same not-yet-treated cohorts), and otherwise the cells with the same
    earlier period do. The shared propensity score is the one each cell would fit, bit for bit (same inputs, same
    arithmetic; see :func:`~cteimpact.did.twobytwo.propensity_parts`). Cells come by cohort, then period, so the
    cells sharing a sample are consecutive: only the last sample is held.
    """

    def __init__(self, data: StaggeredData, w_by_t: np.ndarray | None, method: Method, trim_level: float) -> None:
        self.data, self.w_by_t, self.method, self.trim_level = data, w_by_t, method, trim_level
        x = data.x_wide
        self.invariant = (x is not None and all(np.array_equal(x[j], x[0]) for j in range(1, x.shape[0]))
                          and (w_by_t is None or all(np.array_equal(w_by_t[j], w_by_t[0])
                                                     for j in range(1, w_by_t.shape[0]))))
        self._samples: dict[tuple[tuple[int, ...], int], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._propensity: dict[tuple[tuple[int, ...], int], PropensityParts | str] = {}
        self._shared: dict[tuple[tuple[int, ...], int], PanelSample] = {}

    def _key(self, segs: Sequence[int], wt: int) -> tuple[tuple[int, ...], int]:
        return tuple(segs), (0 if self.invariant else wt)

    def sample(self, segs: Sequence[int], n1_t: int, n1_c: int, wt: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows, treatment indicator, covariates (with the intercept) and weights of a cell's sample."""
        key = self._key(segs, wt)
        if key not in self._samples:
            self._samples.clear()
            self._propensity.clear()
            self._shared.clear()
            d_ = self.data
            bounds = d_.seg_bounds
            idx = np.concatenate([np.arange(int(bounds[s]), int(bounds[s + 1])) for s in segs])
            d = np.concatenate([np.ones(n1_t), np.zeros(n1_c)])
            ww = self.w_by_t[wt, idx] if self.w_by_t is not None else d_.row_weight[idx]
            x = np.column_stack([np.ones(idx.size), present(d_.x_wide, "covariates")[wt, idx, :]])
            self._samples[key] = (idx, d, x, ww)
        return self._samples[key]

    def shared(self, segs: Sequence[int], wt: int) -> PanelSample | None:
        """The doubly robust estimator's outcome-free parts of the sample (``None`` for the other estimators)."""
        if self.method != "dr":
            return None
        key = self._key(segs, wt)
        if key not in self._shared:
            _, d, x, ww = self._samples[key]
            self._shared[key] = PanelSample(x, d, ww, trim_level=self.trim_level)
        return self._shared[key]

    def propensity(self, segs: Sequence[int], wt: int) -> PropensityParts | None:
        """The inverse-probability-weighted estimator's propensity-score parts of the sample (``None`` for the
        others; the doubly robust estimator's are in :meth:`shared`); raises the :class:`CellFailure` of their fit
        for every cell that shares them."""
        if self.method != "ipw":
            return None
        key = self._key(segs, wt)
        if key not in self._propensity:
            _, d, x, ww = self._samples[key]
            try:
                self._propensity[key] = propensity_parts(x, d, ww, trim_level=self.trim_level)
            except CellFailure as exc:
                self._propensity[key] = exc.reason
        found = self._propensity[key]
        if isinstance(found, str):
            raise CellFailure(found)
        return found


def _panel_cell(data: StaggeredData, cell: Cell, k: int, y_by_t: np.ndarray | None, w_by_t: np.ndarray | None,
                seg_of_cohort: dict[float, list[int]], seg_vals: tuple[np.ndarray, ...],
                col_pos: list[dict[int, int]], method: Method, trim_level: float,
                samples: _Samples | None = None, *, unit_weights: bool = False) -> tuple[float, int, int]:
    y_by_t = present(y_by_t, "panel outcomes")
    bounds = data.seg_bounds
    t, b = cell.t_idx, cell.b_idx
    wt = min(t, b)
    treat_segs = seg_of_cohort.get(cell.group, [])
    ctrl_segs = [s for c in cell.controls for s in seg_of_cohort.get(c, [])]
    if not treat_segs:
        raise CellFailure("no units in the cohort")
    if not ctrl_segs:
        raise CellFailure("no comparison units")
    n = data.n

    def rows(s: int) -> tuple[int, int]:
        return int(bounds[s]), int(bounds[s + 1])

    def weights(a: int, z: int) -> np.ndarray:
        return w_by_t[wt, a:z] if w_by_t is not None else data.row_weight[a:z]

    n1_t = sum(rows(s)[1] - rows(s)[0] for s in treat_segs)
    n1_c = sum(rows(s)[1] - rows(s)[0] for s in ctrl_segs)
    if data.x_wide is None and unit_weights:
        return _unweighted_cell(y_by_t, t, b, data.row_weight, [rows(s) for s in treat_segs],
                                [rows(s) for s in ctrl_segs], [seg_vals[s][:, col_pos[s][k]] for s in treat_segs],
                                [seg_vals[s][:, col_pos[s][k]] for s in ctrl_segs], n, method, trim_level)
    if data.x_wide is None:
        # closed form: all three estimators reduce to a difference of weighted mean changes
        def changes(segs: Sequence[int]) -> tuple[list[tuple[int, np.ndarray, np.ndarray]], float, float]:
            """Each segment's outcome changes and weights, the total weight and the weighted sum of changes."""
            parts = []
            w_tot = s_tot = 0.0
            for s in segs:
                a, z = rows(s)
                dy = y_by_t[t, a:z] - y_by_t[b, a:z]
                ww = weights(a, z)
                w_tot += ww.sum()
                s_tot += np.dot(ww, dy)
                parts.append((s, dy, ww))
            return parts, w_tot, s_tot

        parts_t, w1, s1 = changes(treat_segs)
        parts_c, w0, s0 = changes(ctrl_segs)
        if not (w1 > 0):
            raise CellFailure("treated units have zero total weight")
        if not (w0 > 0):
            raise CellFailure("comparison units have zero total weight")
        if method in ("dr", "ipw") and w1 / (w1 + w0) >= trim_level:
            raise CellFailure("overlap condition violated: the share of treated units reaches the trimming level")
        eta1, eta0 = s1 / w1, s0 / w0
        for s, dy, ww in parts_t:
            seg_vals[s][:, col_pos[s][k]] = (n / w1) * ww * (dy - eta1)
        for s, dy, ww in parts_c:
            seg_vals[s][:, col_pos[s][k]] = (-n / w0) * ww * (dy - eta0)
        return float(eta1 - eta0), n1_t, n1_c

    segs = treat_segs + ctrl_segs
    samples = samples if samples is not None else _Samples(data, w_by_t, method, trim_level)
    idx, d, x, ww = samples.sample(segs, n1_t, n1_c, wt)
    dy = y_by_t[t, idx] - y_by_t[b, idx]
    att, inf = did_panel(dy, d, x, ww, method, trim_level=trim_level, propensity=samples.propensity(segs, wt),
                         sample=samples.shared(segs, wt))
    if not np.isfinite(att):
        raise CellFailure("the estimate is not finite")
    inf = inf * (n / idx.size)
    pos = 0
    for s in segs:
        a, z = rows(s)
        seg_vals[s][:, col_pos[s][k]] = inf[pos:pos + (z - a)]
        pos += z - a
    return att, n1_t, n1_c


def _unweighted_cell(y_by_t: np.ndarray, t: int, b: int, ones: np.ndarray, treat_rows: Sequence[tuple[int, int]],
                     ctrl_rows: Sequence[tuple[int, int]], treat_cols: Sequence[np.ndarray],
                     ctrl_cols: Sequence[np.ndarray], n: int, method: Method, trim_level: float
                     ) -> tuple[float, int, int]:
    """The closed form of :func:`_panel_cell` without covariates when every weight is one, computed in the cell's
    influence-function columns (contiguous) with no temporary arrays: each column first receives the outcome
    changes, then its influence function. The arithmetic is the weighted form's with the weights (ones) left out,
    so the numbers are the same bit for bit: a sum of ones is the count, ``np.dot(ones, dy)`` is unchanged (``ones``:
    the rows' weights, all one), and ``(n / w) * 1 * (dy - eta)`` is ``(dy - eta) * (n / w)``."""
    def changes(rows: Sequence[tuple[int, int]], cols: Sequence[np.ndarray]) -> tuple[float, float]:
        w_tot = s_tot = 0.0
        for (a, z), col in zip(rows, cols, strict=True):
            np.subtract(y_by_t[t, a:z], y_by_t[b, a:z], out=col)
            w_tot += float(z - a)
            s_tot += np.dot(ones[a:z], col)
        return w_tot, s_tot

    w1, s1 = changes(treat_rows, treat_cols)
    w0, s0 = changes(ctrl_rows, ctrl_cols)
    failure = None
    if not (w1 > 0):
        failure = "treated units have zero total weight"
    elif not (w0 > 0):
        failure = "comparison units have zero total weight"
    elif method in ("dr", "ipw") and w1 / (w1 + w0) >= trim_level:
        failure = "overlap condition violated: the share of treated units reaches the trimming level"
    if failure is not None:
        for col in (*treat_cols, *ctrl_cols):  # a cell not estimated keeps zero influence functions
            col[:] = 0.0
        raise CellFailure(failure)
    eta1, eta0 = s1 / w1, s0 / w0
    for col in treat_cols:
        col -= eta1
        col *= n / w1
    for col in ctrl_cols:
        col -= eta0
        col *= -n / w0
    return float(eta1 - eta0), int(w1), int(w0)


def _rcs_cell(data: StaggeredData, cell: Cell, k: int, seg_of_cohort: dict[float, list[int]],
              seg_vals: tuple[np.ndarray, ...], col_pos: list[dict[int, int]], method: Method,
              trim_level: float) -> tuple[float, int, int]:
    obs_t, obs_y = present(data.obs_t, "periods"), present(data.obs_y, "outcomes")
    obs_row, obs_w = present(data.obs_row, "rows"), present(data.obs_w, "weights")
    t, b = cell.t_idx, cell.b_idx
    cohorts = (cell.group, *cell.controls)
    pieces = []
    for c in cohorts:
        if c not in data.obs_cohort_bounds:
            continue
        lo, hi = data.obs_cohort_bounds[c]
        tt = obs_t[lo:hi]
        sel = np.flatnonzero((tt == t) | (tt == b)) + lo
        pieces.append((c, sel))
    if not pieces or pieces[0][0] != cell.group:
        raise CellFailure("no observations of the cohort")
    idx = np.concatenate([p[1] for p in pieces])
    d = np.concatenate([np.full(p[1].size, 1.0 if p[0] == cell.group else 0.0) for p in pieces])
    post = (obs_t[idx] == t).astype(float)
    for cond, what in (((d == 1) & (post == 1), f"no units of the cohort in period {cell.time:g}"),
                       ((d == 1) & (post == 0), f"no units of the cohort in period {cell.base:g}"),
                       ((d == 0) & (post == 1), f"no comparison units in period {cell.time:g}"),
                       ((d == 0) & (post == 0), f"no comparison units in period {cell.base:g}")):
        if not cond.any():
            raise CellFailure(what)
    y = obs_y[idx]
    w = obs_w[idx]
    x = (np.column_stack([np.ones(idx.size), data.obs_x[idx]]) if data.obs_x is not None
         else np.ones((idx.size, 1)))
    att, inf = did_rcs(y, post, d, x, w, method, trim_level=trim_level)
    if not np.isfinite(att):
        raise CellFailure("the estimate is not finite")
    inf = inf * (data.n / idx.size)
    rows_of = obs_row[idx]
    bounds = data.seg_bounds
    for c in cohorts:
        for s in seg_of_cohort.get(c, []):
            if k not in col_pos[s]:
                continue
            a, z = int(bounds[s]), int(bounds[s + 1])
            m = (rows_of >= a) & (rows_of < z)
            if m.any():
                seg_vals[s][:, col_pos[s][k]] = np.bincount(rows_of[m] - a, weights=inf[m], minlength=z - a)
    n_treat = int((d == 1).sum())
    return att, n_treat, int(idx.size - n_treat)


def score_parts(data: StaggeredData, cells: Sequence[Cell], infl: InfluenceFunctions, row_cluster: np.ndarray,
                n_clusters: int) -> ScoreParts:
    """Cluster sums of each cell's influence function by role, for the re-estimating wild bootstrap
    (:func:`cteimpact.did.wild.wild_recentered`).

    Roles: treated and comparison units (panels); for repeated cross-sections also the period (treated-post,
    treated-pre, comparison-post, comparison-pre), since each of those means is estimated. Restricted residuals
    allocate ``θ̂ − θ0`` as a regression on a treatment dummy would: for panels ``(1 − p)`` of it to the treated
    and ``−p`` to the comparison units (``p`` the treated share of the comparison's weight); for repeated
    cross-sections all of it to the treated units in the later period.
    """
    k_cells = len(cells)
    n_roles = 4 if data.mode == "rcs" else 2
    psi = np.zeros((k_cells, n_roles, n_clusters))
    wsum = np.zeros((k_cells, n_roles, n_clusters))
    bounds = data.seg_bounds
    for s, (cols, vals) in enumerate(zip(infl.seg_cols, infl.seg_vals, strict=True)):
        a, b = int(bounds[s]), int(bounds[s + 1])
        codes = row_cluster[a:b]
        w = data.row_weight[a:b]
        wc_all = np.bincount(codes, weights=w, minlength=n_clusters)
        for j, k in enumerate(cols):
            cell = cells[int(k)]
            treated = data.seg_cohort[s] == cell.group
            role = 0 if treated else 1
            if data.mode == "rcs":
                role = role * 2 + (0 if data.seg_time[s] == cell.t_idx else 1)
            col = vals[:, j]
            psi[k, role] += np.bincount(codes, weights=col, minlength=n_clusters)
            if data.mode == "unbalanced":
                wsum[k, role] += np.bincount(codes, weights=w * (col != 0), minlength=n_clusters)
            else:
                wsum[k, role] += wc_all
    tot = wsum.sum(axis=2)
    share = np.divide(wsum, tot[:, :, None], out=np.zeros_like(wsum), where=tot[:, :, None] > 0)
    n = data.n
    h = np.zeros_like(psi)
    if data.mode == "rcs":
        ok = tot[:, 0] > 0
        h[ok, 0] = (n / tot[ok, 0])[:, None] * wsum[ok, 0]
    else:
        w1, w0 = tot[:, 0], tot[:, 1]
        ok = (w1 > 0) & (w0 > 0)
        p = np.where(ok, w1 / np.where(ok, w1 + w0, 1.0), 0.0)
        h[ok, 0] = ((1 - p[ok]) * n / w1[ok])[:, None] * wsum[ok, 0]
        h[ok, 1] = (p[ok] * n / w0[ok])[:, None] * wsum[ok, 1]
    cohort_w = np.zeros((data.groups.size, n_clusters))
    for gi, g in enumerate(data.groups):
        m = data.row_cohort == g
        cohort_w[gi] = np.bincount(row_cluster[m], weights=data.row_weight[m], minlength=n_clusters)
    count = np.bincount(row_cluster, minlength=n_clusters).astype(float)
    return ScoreParts(psi, share, h, cohort_w, count)
