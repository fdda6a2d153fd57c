"""The results of the earnings path over ages (:class:`AgeProfileResults`) and the record of each age's fit
(:class:`AgeFit`); built by :func:`cteimpact.did.age_profile.earnings_age_profile`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.did.results import DiDResults
from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import SUPPRESSION_MARKER, check_min_cell, suppression_note
from cteimpact.results.contract import ImpactResults
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PROFILE_COLUMNS", "AgeFit", "AgeProfileResults", "age_label", "ages_text"]

PROFILE_COLUMNS = ("age", "label", "estimate", "std_error", "ci_lower", "ci_upper", "band_lower", "band_upper",
                   "std_error_bootstrap", "p_value", "n_cohorts", "first_cohort", "last_cohort", "n_students",
                   "n_students_treated", "n_clusters", "suppressed")
"""Columns of :meth:`AgeProfileResults.profile`."""


_EFFECT_SIZE_COLUMNS = ("label", "kind", "estimate", "ci_lower", "ci_upper", "att", "standardiser", "level",
                        "n_students_treated", "n_students_comparison")


def age_label(outcome: str, age: int) -> str:
    """The label of an age's row: ``<earnings>[age=<a>]``."""
    return f"{outcome}[age={age}]"


@dataclass(frozen=True)
class AgeFit:
    """One age of the profile.

    Attributes
    ----------
    age
        The age.
    outcome
        The outcome column the age's DiD used (``<earnings>_age<a>``).
    flow
        The students' flow at this age (every exclusion, then the estimator's steps).
    cohorts
        Entering cohorts observed at this age (used).
    cohorts_not_observed
        Entering cohorts of the student sample not observed at this age (excluded).
    n_without_record
        Students of observed cohorts without a wage record at this age (excluded, or counted as zero earnings).
    results
        The age's DiD results (``None`` when not estimable).
    reason
        Why the age is not estimable (``None`` when estimated).
    """

    age: int
    outcome: str
    flow: SampleFlow
    cohorts: tuple[int, ...]
    cohorts_not_observed: tuple[int, ...]
    n_without_record: int
    results: DiDResults | None = field(default=None, repr=False)
    reason: str | None = None
    positions: np.ndarray | None = field(default=None, repr=False, compare=False)
    """Student-file row (after the shared exclusions) of each row the age's estimator read; internal, for the
    joint bootstrap without clustering."""

    def fitted(self) -> DiDResults:
        """The age's DiD results (``RuntimeError`` for an age that was not estimated: a bug where it is called)."""
        if self.results is None:
            raise RuntimeError(f"internal error: age {self.age} was not estimated")
        return self.results

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"age": self.age, "outcome": self.outcome, "cohorts": list(self.cohorts),
                               "cohorts_not_observed": list(self.cohorts_not_observed),
                               "n_without_record": self.n_without_record, "estimated": self.results is not None,
                               "reason": self.reason, "sample_flow": self.flow.to_dict()}
        if self.results is not None:
            res = self.results
            out["aggregates"] = [res.estimate(lab).to_dict() for lab in res.labels
                                 if "[g=" not in lab and lab.endswith(("]", self.outcome))
                                 and ("overall" in lab or lab == self.outcome)]
        return out


@dataclass(frozen=True, eq=False)
class AgeProfileResults(ImpactResults):
    """The effect of the district's launch on earnings at each age, with pointwise intervals and a simultaneous band.

    Rows (:attr:`estimates`): the primary estimate labelled with the earnings column (the mean effect over the
    estimated ages, equally weighted), then one row per estimated age labelled ``<earnings>[age=<a>]`` (the simple
    ATT at that age) with its pointwise interval (``ci_type = "pointwise"``); the simultaneous band is in
    :meth:`profile` (``band_lower``, ``band_upper``) and :attr:`bootstrap`.

    Attributes
    ----------
    outcome
        The earnings column of the wage records.
    ages
        Every age asked for, estimated or not.
    fits
        Each age's fit (:class:`AgeFit`: its flow, cohorts, DiD results or the reason it is not estimable).
    covariance
        Joint covariance of the rows (influence functions stacked over the ages; cluster-robust when clustered).
    band_lower, band_upper
        Simultaneous band of the age rows (in the order of the estimated ages).
    bootstrap
        Draws, weights, seed, the sup-t critical value and the bootstrap standard errors.
    student_flow
        The student file's flow up to the sample shared by every age.
    """

    design: ClassVar[str] = "did"
    estimator: ClassVar[str] = ("Earnings path over ages: student-level staggered difference-in-differences at each "
                                "age (Callaway & Sant'Anna 2021, repeated cross-sections), joint sup-t band")

    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    sample_flow: SampleFlow
    outcome: str
    ages: tuple[int, ...]
    fits: tuple[AgeFit, ...]
    covariance: np.ndarray
    band_lower: np.ndarray
    band_upper: np.ndarray
    bootstrap: Mapping[str, Any]
    student_flow: SampleFlow
    n_clusters: int | None = None
    notes: tuple[str, ...] = ()
    privacy: Mapping[str, Any] | None = None
    """After :meth:`with_min_cell`: ``min_cell``, the ages hidden and the note stating why."""

    @property
    def estimated_ages(self) -> tuple[int, ...]:
        return tuple(f.age for f in self.fits if f.results is not None)

    def fit_at(self, age: int) -> AgeFit:
        """The fit of one age."""
        for f in self.fits:
            if f.age == age:
                return f
        raise OptionError(f"age {age} is not in the profile; ages: {', '.join(str(a) for a in self.ages)}")

    def results_at(self, age: int) -> DiDResults:
        """The DiD results of one age (every ATT(g,t) and aggregation)."""
        f = self.fit_at(age)
        if f.results is None:
            raise OptionError(f"age {age} was not estimated: {f.reason}")
        return f.results

    def with_min_cell(self, min_cell: int) -> AgeProfileResults:
        """The profile as it may be published: each age's DiD results with the small-cell rule applied
        (:meth:`DiDResults.with_min_cell`); an age whose simple ATT that rule hides is hidden here too (its
        estimate, interval, band and counts), and so is the mean over the ages, which with the other ages shown
        would reveal it. Estimation is untouched."""
        min_cell = check_min_cell(min_cell)
        fits = tuple(dataclasses.replace(f, results=f.results.with_min_cell(min_cell)) if f.results is not None
                     else f for f in self.fits)
        hidden = [f.age for f in fits if f.results is not None and f.results.estimate(f.outcome).suppressed]
        reason = f"describes fewer than {min_cell} students (small-cell rule of each age's DiD results)"
        rows = []
        for e in self.estimates:
            age = next((a for a in hidden if e.label == age_label(self.outcome, a)), None)
            if age is not None:
                rows.append(e.suppress(reason))
            elif e.label == self.outcome and hidden:
                plural = "s" if len(hidden) > 1 else ""
                rows.append(e.suppress(f"the mean over the ages would reveal the hidden age{plural} "
                                       f"{', '.join(str(a) for a in hidden)}"))
            else:
                rows.append(e)
        n_hidden = sum(r.suppressed for r in rows)
        privacy = {"min_cell": min_cell, "suppressed_estimates": n_hidden, "hidden_ages": hidden,
                   "note": suppression_note(min_cell, n_hidden)}
        return dataclasses.replace(self, estimates=tuple(rows), fits=fits, privacy=privacy)

    def _shown(self) -> list[int]:
        """Indices (into :attr:`estimates` and :attr:`covariance`) of the rows not hidden by the small-cell rule."""
        return [i for i, e in enumerate(self.estimates) if not e.suppressed]

    def profile(self) -> pd.DataFrame:
        """One row per estimated age: the estimate, pointwise interval, simultaneous band, bootstrap standard
        error and the cohorts, students and clusters used (columns :data:`PROFILE_COLUMNS`)."""
        rows = []
        se_boot = self.bootstrap.get("std_error", [])
        for i, f in enumerate(fit for fit in self.fits if fit.results is not None):
            res = f.fitted()
            e = self.estimate(age_label(self.outcome, f.age))
            shown = not e.suppressed
            nan = math.nan
            rows.append({
                "age": f.age, "label": e.label, "estimate": e.estimate, "std_error": e.std_error,
                "ci_lower": e.ci_lower, "ci_upper": e.ci_upper,
                "band_lower": float(self.band_lower[i]) if shown else nan,
                "band_upper": float(self.band_upper[i]) if shown else nan,
                "std_error_bootstrap": float(se_boot[i]) if shown else nan, "p_value": e.p_value,
                "n_cohorts": len(f.cohorts), "first_cohort": min(f.cohorts), "last_cohort": max(f.cohorts),
                "n_students": int(res.n_units) if shown else None,
                "n_students_treated": _treated_students(res) if shown else None,
                "n_clusters": res.n_clusters, "suppressed": e.suppressed,
            })
        return pd.DataFrame(rows, columns=list(PROFILE_COLUMNS))

    def effect_sizes(self) -> pd.DataFrame:
        """Hedges' g of each age's effect in the students' own standard deviation of earnings at that age
        (:func:`cteimpact.did.effect_size` on the age's results: treated students of the post-launch cells against
        the comparison students of the same cohorts); after :meth:`with_min_cell`, hidden ages show no number."""
        from cteimpact.did.effect_sizes import effect_size
        from cteimpact.did.privacy import suppress_effect_size

        rows = []
        for f in self.fits:
            if f.results is None:
                continue
            record = effect_size(f.results, binary=False).to_dict()
            if self.privacy is not None:
                record = suppress_effect_size(record, f.results, int(self.privacy["min_cell"]))
            rows.append({"age": f.age, **{k: record.get(k) for k in _EFFECT_SIZE_COLUMNS},
                         "suppressed": bool(record.get("suppressed", False))})
        return pd.DataFrame(rows, columns=["age", *_EFFECT_SIZE_COLUMNS, "suppressed"])

    # -- contract -------------------------------------------------------------------------------------------------
    def sampling_distribution(self) -> SamplingDistribution:
        idx = self._shown()
        labels = tuple(self.estimates[i].label for i in idx)
        mean = np.array([self.estimates[i].estimate for i in idx])
        scale = ("influence-function standard error, cluster-robust, joint over ages" if self.n_clusters is not None
                 else "influence-function standard error, joint over ages")
        return SamplingDistribution(labels, mean, self.covariance[np.ix_(idx, idx)], joint=True,
                                    centre="simple ATT at each age (Callaway & Sant'Anna)", scale=scale)

    def summary(self) -> str:
        o = self.options
        b = self.bootstrap
        lines = [self.estimator, "",
                 f"Outcome: {self.outcome} at ages {ages_text(self.ages)}   comparison: {o['control']}   estimator: "
                 f"{o['method']}   clusters: {o['cluster'] or 'none (students independent)'}"
                 + (f" ({self.n_clusters})" if self.n_clusters is not None else ""),
                 f"Students without a wage record at an observed age: {o['missing_record']}"
                 + (" (not observed)" if o["missing_record"] == "exclude" else " (zero earnings)"),
                 f"Inference: pointwise {o['level']:.0%} intervals from analytic influence-function standard errors; "
                 f"simultaneous {o['level']:.0%} band over ages from a multiplier bootstrap ({b['n_draws']} draws, "
                 f"{b['weights']} weights, seed {b['seed']}; sup-t critical value {b['critical_value']:.4f})", ""]
        tab = self.profile()
        head = (f"{'age':>4} {'estimate':>12} {'SE':>10} {'pointwise CI':>26} {'simultaneous band':>26} "
                f"{'cohorts':>11} {'students':>9} {'treated':>8}")
        lines.append(head)
        for r in tab.itertuples():
            if r.suppressed:
                lines.append(f"{r.age:>4} {SUPPRESSION_MARKER:>12} {'':>10} {'':>26} {'':>26} "
                             f"{f'{r.first_cohort}-{r.last_cohort}':>11}")
                continue
            lines.append(f"{r.age:>4} {r.estimate:>12.4f} {r.std_error:>10.4f} "
                         f"{f'[{r.ci_lower:.4f}, {r.ci_upper:.4f}]':>26} "
                         f"{f'[{r.band_lower:.4f}, {r.band_upper:.4f}]':>26} "
                         f"{f'{r.first_cohort}-{r.last_cohort}':>11} {int(r.n_students):>9,} "
                         f"{int(r.n_students_treated):>8,}")
        primary = self.estimate(self.outcome)
        lines.append("")
        if primary.suppressed:
            lines.append(f"Mean effect over ages {ages_text(self.estimated_ages)}: {SUPPRESSION_MARKER} "
                         f"({primary.suppression})")
        else:
            lines.append(f"Mean effect over ages {ages_text(self.estimated_ages)} (equal weights): "
                         f"{primary.estimate:.4f} (SE {primary.std_error:.4f}, {o['level']:.0%} CI "
                         f"[{primary.ci_lower:.4f}, {primary.ci_upper:.4f}])")
        missing = [f for f in self.fits if f.results is None]
        if missing:
            lines += ["", "Not estimable:", *[f"  age {f.age}: {f.reason}" for f in missing]]
        lines += ["", "Wage records", self.sample_flow.summary(), "", "Students", self.student_flow.summary()]
        for f in self.fits:
            lines += ["", f"Students at age {f.age}", f.flow.summary()]
        if self.notes:
            lines += ["", "Notes:", *[f"  - {n}" for n in self.notes]]
        if self.privacy is not None:
            lines += ["", f"Privacy: {self.privacy['note']}"]
        return "\n".join(lines)

    def plot(self, *args: Any, title: str | None = None, **kwargs: Any) -> Figure:
        """The effect by age: pointwise intervals (error bars) and the simultaneous band (shaded)."""
        from cteimpact.plotting.style import PALETTE, new_figure

        tab = self.profile()
        tab = tab[~tab["suppressed"]]  # hidden by the small-cell rule: not drawn
        fig, ax = new_figure()
        level = float(self.options["level"])
        a = tab["age"].to_numpy(dtype=float)
        ax.fill_between(a, tab["band_lower"].to_numpy(dtype=float), tab["band_upper"].to_numpy(dtype=float),
                        color=PALETTE["band"], alpha=0.5, label=f"simultaneous {level:.0%} band (sup-t)")
        est = tab["estimate"].to_numpy(dtype=float)
        ax.errorbar(a, est, yerr=[est - tab["ci_lower"].to_numpy(dtype=float),
                                  tab["ci_upper"].to_numpy(dtype=float) - est],
                    fmt="o-", color=PALETTE["treated"], capsize=3, label=f"estimate (pointwise {level:.0%})")
        ax.axhline(0.0, color=PALETTE["neutral"], linewidth=1, linestyle="--")
        ax.set_xlabel("age")
        ax.set_ylabel(f"effect on {self.outcome}")
        ax.set_xticks(a)
        ax.set_title(title or f"Effect of the district's launch on {self.outcome} by age\n"
                              "student cohorts within districts, Callaway & Sant'Anna", fontsize=10)
        ax.legend(loc="best")
        return fig

    def _details(self) -> dict[str, Any]:
        return {
            "ages": list(self.ages),
            "estimated_ages": list(self.estimated_ages),
            "profile": self.profile().to_dict(orient="records"),
            "bootstrap": {**self.bootstrap, "std_error": [float(v) for v in self.profile()["std_error_bootstrap"]]},
            "covariance": {"labels": [self.estimates[i].label for i in self._shown()],
                           "matrix": self.covariance[np.ix_(self._shown(), self._shown())].tolist()},
            "privacy": None if self.privacy is None else dict(self.privacy),
            "n_clusters": self.n_clusters,
            "student_flow": self.student_flow.to_dict(),
            "by_age": [f.record() for f in self.fits],
            "notes": list(self.notes),
        }


def _treated_students(res: DiDResults) -> int:
    """Students of the launching districts' cohorts that entered from the launch on (the treated cells)."""
    d = res.data
    if d is None or d.observations is None:
        return 0
    obs = d.observations
    entered = d.times[obs.period]
    return int(((obs.cohort > 0) & (entered >= obs.cohort)).sum())


def ages_text(ages: Sequence[int]) -> str:
    ages = sorted(ages)
    if not ages:
        return "none"
    if list(ages) == list(range(ages[0], ages[-1] + 1)) and len(ages) > 2:
        return f"{ages[0]}-{ages[-1]}"
    return ", ".join(str(a) for a in ages)
