"""The other difference-in-differences estimators of ``cteimpact did --estimator``, as published output.

``cteimpact did`` runs Callaway & Sant'Anna by default (:mod:`cteimpact.cli.did`). With ``--estimator`` it runs
instead:

* ``twfe``: the two-way fixed effects coefficient (:func:`cteimpact.did.twfe`);
* ``event-study``: the TWFE event study (:func:`cteimpact.did.twfe` with ``event_study=True``, the numbers of
  :func:`cteimpact.did.twfe_event_study`) beside the TWFE coefficient;
* ``sun-abraham``: the Sun & Abraham (2021) interaction-weighted event study (:func:`cteimpact.did.sun_abraham`);
* ``etwfe``: extended TWFE (Wooldridge 2021/2023, :func:`cteimpact.did.etwfe`; ``--family linear|logit|poisson``,
  ``--control notyet|never``, default ``notyet`` as R ``etwfe``);
* ``bacon``: the Goodman-Bacon (2021) decomposition of the TWFE coefficient (:func:`cteimpact.did.bacon_decomposition`;
  with ``--covariates`` the controlled decomposition of section 5: a within-timing-group component and one
  covariate-adjusted 2×2 per pair of timing groups);
* ``imputation``: the imputation estimator of Borusyak, Jaravel & Spiess (2024, :func:`cteimpact.did.imputation_did`;
  ``--horizons all|0,1,2`` adds event-time effects, ``--pretrends K`` the pre-trend test of the ``K`` periods before
  treatment; both apply to this estimator only).

This module does one job: it checks which options apply to the chosen estimator (:data:`APPLIES`; any other option
given is a one-line :class:`~cteimpact.errors.OptionError` naming the option and the estimator), runs it, and makes
its output publishable: the JSON object has the keys of the Callaway–Sant'Anna output that apply (``results``,
the ``cteimpact.results/1`` record; ``estimates``, the tidy rows; ``sample_flow``; ``options``; ``notes``;
``privacy``) and ``estimator``.

Small cells (see :mod:`cteimpact.did.privacy` for the rule applied to Callaway–Sant'Anna): each row describes the
students of the cohorts it averages and of the never-treated comparison group (when there is one); its size is the
smaller of the two. The overall estimate averages every treated cohort, a cohort row its cohort, an event-time row
the cohorts observed at that event time, a period row the cohorts treated by then. A row smaller than ``min_cell`` is
hidden (its numbers ``null``, ``suppressed: true`` and the ``suppression`` reason), and within each family of rows
that averages into the overall estimate complementary suppression applies
(:func:`cteimpact.provenance.suppression.small_cell_mask`). The estimator's own tables in ``results.details``
(cohort × event-time effects, 2×2 comparisons) hide rows of cohorts smaller than ``min_cell`` in the same way, and a
hidden estimate leaves the sampling distribution. Estimation uses every row; only what is shown changes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import small_cell_mask, suppress_small_cells, suppression_note

__all__ = ["APPLIES", "ESTIMATORS", "ComparisonRun", "check_applies", "run_comparison"]

_COMMON = ("data", "outcome", "unit", "time_col", "cohort", "where", "min_cell", "as_json", "output", "plot_path",
           "estimator", "backend", "connection", "table", "max_rows_pulled", "in_engine")


def _fit_twfe(frame: pd.DataFrame, kw: dict[str, Any], o: Mapping[str, Any]) -> Any:
    from cteimpact.did import twfe

    return twfe(frame, **kw, cluster=o["cluster"], panel=o["panel"], allow_unbalanced=o["allow_unbalanced"],
                level=o["level"], covariates=o["covariates"])


def _fit_event_study(frame: pd.DataFrame, kw: dict[str, Any], o: Mapping[str, Any]) -> Any:
    from cteimpact.did import twfe

    return twfe(frame, **kw, cluster=o["cluster"], panel=o["panel"], event_study=True, level=o["level"],
                covariates=o["covariates"])


def _fit_sun_abraham(frame: pd.DataFrame, kw: dict[str, Any], o: Mapping[str, Any]) -> Any:
    from cteimpact.did import sun_abraham

    return sun_abraham(frame, **kw, cluster=o["cluster"], anticipation=o["anticipation"], level=o["level"],
                       covariates=o["covariates"])


def _fit_etwfe(frame: pd.DataFrame, kw: dict[str, Any], o: Mapping[str, Any]) -> Any:
    from cteimpact.did import etwfe

    if kw["cohort"] is None:
        raise OptionError("--estimator etwfe needs --cohort (first treated period of each unit)")
    return etwfe(frame, **{k: v for k, v in kw.items() if k != "treatment"}, covariates=o["covariates"],
                 control=o["control"], cluster=o["cluster"], level=o["level"], family=o["family"])


def _fit_imputation(frame: pd.DataFrame, kw: dict[str, Any], o: Mapping[str, Any]) -> Any:
    from cteimpact.did import imputation_did

    if kw["cohort"] is None:
        raise OptionError("--estimator imputation needs --cohort (first treated period of each unit)")
    return imputation_did(frame, **{k: v for k, v in kw.items() if k != "treatment"}, covariates=o["covariates"],
                          cluster=o["cluster"], level=o["level"], anticipation=o["anticipation"],
                          horizons=o["horizons"], pretrends=o["pretrends"])


def _fit_bacon(frame: pd.DataFrame, kw: dict[str, Any], o: Mapping[str, Any]) -> Any:
    from cteimpact.did import bacon_decomposition

    return bacon_decomposition(frame, **kw, covariates=o["covariates"])


@dataclass(frozen=True)
class _Estimator:
    """One ``--estimator``: its fit, the options that apply, and how its analysis sample is prepared (the arguments of
    :func:`cteimpact.did.panel.prepare_staggered_data` its fit uses, from the options)."""

    fit: Callable[[pd.DataFrame, dict[str, Any], Mapping[str, Any]], Any]
    applies: frozenset[str]
    sample: Callable[[Mapping[str, Any]], dict[str, Any]]


_SPECS: dict[str, _Estimator] = {
    "twfe": _Estimator(_fit_twfe, frozenset({*_COMMON, "treatment", "covariates", "cluster", "level", "panel",
                                            "allow_unbalanced"}),
                       lambda o: {"panel": o["panel"], "allow_unbalanced": o["allow_unbalanced"]}),
    "event-study": _Estimator(_fit_event_study, frozenset({*_COMMON, "treatment", "covariates", "cluster", "level",
                                                          "panel"}),
                              lambda o: {"panel": o["panel"]}),
    "sun-abraham": _Estimator(_fit_sun_abraham, frozenset({*_COMMON, "treatment", "covariates", "cluster", "level",
                                                          "anticipation"}),
                              lambda o: {"control": "never", "anticipation": o["anticipation"]}),
    "etwfe": _Estimator(_fit_etwfe, frozenset({*_COMMON, "covariates", "cluster", "level", "control", "family"}),
                        lambda o: {"control": o["control"]}),
    "bacon": _Estimator(_fit_bacon, frozenset({*_COMMON, "treatment", "covariates"}),
                        lambda o: {"control": "notyet", "last_cohort_as_comparison": False}),
    "imputation": _Estimator(_fit_imputation, frozenset({*_COMMON, "covariates", "cluster", "level", "anticipation",
                                                        "horizons", "pretrends"}),
                             lambda o: {"control": "notyet", "anticipation": o["anticipation"],
                                        "allow_unbalanced": True}),
}

#: options of comparison estimators only (an error with ``cs``)
_NOT_CS = frozenset({"family", "horizons", "pretrends"})

ESTIMATORS: tuple[str, ...] = ("cs", *_SPECS)
"""Names accepted by ``--estimator`` (``cs``: Callaway & Sant'Anna, the default)."""

APPLIES: Mapping[str, frozenset[str]] = {name: spec.applies for name, spec in _SPECS.items()}
"""The command's parameters that apply to each comparison estimator (every other one is an error when given)."""

_LABEL = re.compile(r"\[[^,\]]+(?:,(\w+)=([^\]]+))?\]$")


def _flag(name: str) -> str:
    return "--" + {"time_col": "time", "as_json": "json", "plot_path": "plot"}.get(name, name).replace("_", "-")


def check_applies(estimator: str, given: Sequence[str]) -> None:
    """Raise an :class:`OptionError` for the first option in ``given`` (parameter names the user set) that does not
    apply to ``estimator`` (``cs``: the options of comparison estimators only, ``--family``, ``--horizons`` and
    ``--pretrends``)."""
    for name in given:
        if (name in _NOT_CS) if estimator == "cs" else (name not in APPLIES[estimator]):
            raise OptionError(f"option {_flag(name)} does not apply to --estimator {estimator} (it applies to: "
                              f"{', '.join(_applies_to(name))})")


def _applies_to(name: str) -> list[str]:
    return ["cs"] * (name not in _NOT_CS) + [e for e, spec in _SPECS.items() if name in spec.applies]


@dataclass(frozen=True)
class ComparisonRun:
    """One comparison estimator's result as it may be published."""

    result: Any
    """The result as it may be published: hidden rows suppressed (its summary and plot show no number of them)."""
    obj: dict[str, Any]

    def text(self) -> str:
        """The estimator's summary (hidden rows shown as suppressed), then the privacy note."""
        res = self.result
        overall_hidden = bool(self.obj["estimates"]) and self.obj["estimates"][0]["suppressed"]
        # the Goodman-Bacon notes restate the TWFE coefficient: not shown when it is hidden
        notes = [] if overall_hidden and self.obj["estimator"] == "bacon" else res._notes()
        return res._default_summary(notes) + "\n\nPrivacy: " + self.obj["privacy"]["note"]


class _Sizes:
    """Students behind each row: cohort sizes (smallest over periods) and the never-treated comparison group."""

    def __init__(self, d: Any, min_cell: int) -> None:
        s = d.cohort_period_students or {}
        self.cohort = {float(c): float(np.min(v)) for c, v in s.items()}
        self.times = [float(t) for t in d.times]
        self.comparison = self.cohort.get(0.0, math.inf)
        self.treated = {c: n for c, n in self.cohort.items() if c != 0.0 and math.isfinite(c)}
        # when rows are students, cohort sizes add up to the units shown: the small-cell rule applies to them, and
        # a count of a row involving a hidden cohort is not shown (as for Callaway & Sant'Anna)
        self.hidden_cohorts: frozenset[float] = frozenset()
        if d.students is None and self.cohort:
            keys = sorted(self.cohort)
            mask = small_cell_mask([self.cohort[c] for c in keys], min_cell=min_cell, groups=[list(range(len(keys)))])
            self.hidden_cohorts = frozenset(c for c, m in zip(keys, mask, strict=True) if m)

    def of_cohort(self, g: Any) -> float:
        return min(self.cohort.get(float(g), 0.0), self.comparison)

    def cohorts_of(self, family: str | None, value: Any) -> list[float]:
        """Treated cohorts a row averages (overall: every one)."""
        if family == "group":
            return [float(value)]
        if family == "event":
            return [g for g in self.treated if g + float(value) in self.times]
        if family == "calendar":
            return [g for g in self.treated if g <= float(value)]
        return list(self.treated)

    def of_row(self, family: str | None, value: str | None) -> float:
        return min(sum(self.treated.get(g, 0.0) for g in self.cohorts_of(family, value)), self.comparison)


def _hidden_labels(estimates: Sequence[Any], sizes: _Sizes, min_cell: int) -> dict[str, str]:
    """Label → reason of each hidden estimate row (primary and complementary suppression)."""
    parsed = []
    for e in estimates:
        m = _LABEL.search(e.label)
        parsed.append((None, None) if m is None else (m.group(1), m.group(2)))
    size = np.array([sizes.of_row(f, v) if math.isfinite(e.estimate) else math.inf
                     for e, (f, v) in zip(estimates, parsed, strict=True)])
    overall = [i for i, (f, _) in enumerate(parsed) if f is None]
    groups = [overall + [i for i, (f, _) in enumerate(parsed) if f == fam]
              for fam in sorted({f for f, _ in parsed if f is not None})]
    mask = small_cell_mask(size, min_cell=min_cell, groups=[g for g in groups if len(g) > 1])
    out = {}
    for i, e in enumerate(estimates):
        if mask[i]:
            out[e.label] = (f"fewer than {min_cell} students in the treated cohorts or their comparison group"
                            if size[i] < min_cell else
                            f"complementary suppression: shown with the aggregate it enters, it would reveal an "
                            f"estimate of fewer than {min_cell} students")
    return out


def _table(rows: list[dict[str, Any]], size: list[float], *, by: str | None, min_cell: int,
           keys: Sequence[str]) -> list[dict[str, Any]]:
    """``rows`` with those of fewer than ``min_cell`` students hidden (complementary within ``by``)."""
    if not rows:
        return rows
    frame = pd.DataFrame(rows)
    frame["_size"] = size
    values = [c for c in frame.columns if c not in (*keys, "_size", "type") and pd.api.types.is_numeric_dtype(frame[c])]
    st = suppress_small_cells(frame, n_column="_size", value_columns=values, min_cell=min_cell, by=by)
    out = st.values.drop(columns=["_size"])
    out["suppressed"] = st.suppressed["_size"].to_numpy()
    recs: list[dict[str, Any]] = out.to_dict(orient="records")
    for r in recs:
        for k, v in r.items():
            if (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                r[k] = None
    return recs


def _hide_by_label(rows: list[dict[str, Any]], labels: list[str], hidden: Mapping[str, str],
                   keys: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for r, lab in zip(rows, labels, strict=True):
        if lab in hidden:
            r = {k: (v if k in keys else None) for k, v in r.items()} | {"suppressed": True}
        else:
            r = {**r, "suppressed": False}
        out.append(r)
    return out


def _fmt(v: Any) -> str:
    x = float(v)
    return str(int(x)) if x.is_integer() else repr(x)


def _details(estimator: str, record: dict[str, Any], outcome: str, sizes: _Sizes, hidden: Mapping[str, str],
             min_cell: int) -> dict[str, Any]:
    rec = dict(record)
    if estimator in ("twfe", "event-study"):
        tag = "twfe"
        if f"{outcome}[twfe]" in hidden:
            rec |= dict.fromkeys(("estimate", "se", "ci_lower", "ci_upper", "n_entities"))
        if rec.get("event_study"):
            labs = [f"{outcome}[{tag},event={_fmt(r['event_time'])}]" for r in rec["event_study"]]
            rec["event_study"] = _hide_by_label(rec["event_study"], labs, hidden, ("event_time",))
    elif estimator == "sun-abraham":
        if f"{outcome}[sun_abraham]" in hidden:
            rec |= {"att": None, "att_se": None}
        labs = [f"{outcome}[sun_abraham,event={_fmt(r['event_time'])}]" for r in rec["event_study"]]
        rec["event_study"] = _hide_by_label(rec["event_study"], labs, hidden, ("event_time",))
        ce = rec.get("cohort_effects") or []
        rec["cohort_effects"] = _table(ce, [sizes.of_cohort(r["cohort"]) for r in ce], by="event_time",
                                       min_cell=min_cell, keys=("cohort", "event_time"))
    elif estimator == "etwfe":
        name = {"simple": None, "group": "group", "calendar": "calendar", "event": "event"}
        labs = [f"{outcome}[etwfe]" if name[r["type"]] is None else
                f"{outcome}[etwfe,{name[r['type']]}={_fmt(r['level'])}]" for r in rec["aggregations"]]
        rec["aggregations"] = _hide_by_label(rec["aggregations"], labs, hidden, ("type", "level"))
        for r in rec["aggregations"]:
            if set(sizes.cohorts_of(name[r["type"]], r["level"])) & sizes.hidden_cohorts:
                r["n_obs"] = None
        ce = rec.get("cell_effects") or []
        rec["cell_effects"] = _table(ce, [sizes.of_cohort(r["cohort"]) for r in ce], by="time",
                                     min_cell=min_cell, keys=("cohort", "time", "event_time"))
    elif estimator == "imputation":
        if f"{outcome}[bjs]" in hidden:
            rec |= {"att": None, "att_se": None}
        labs = [f"{outcome}[bjs,event={_fmt(r['event_time'])}]" for r in rec["event_study"]]
        rec["event_study"] = _hide_by_label(rec["event_study"], labs, hidden, ("event_time",))
        pre = rec.get("pretrend")
        if pre:  # a pre-period coefficient describes the cohorts observed at that event time; none adds up to another
            co = pre["coefficients"]
            rec["pretrend"] = {**pre, "coefficients": _table(
                co, [sizes.of_row("event", r["event_time"]) for r in co], by="event_time", min_cell=min_cell,
                keys=("event_time",))}
    elif estimator == "bacon":
        tt = rec.get("two_by_twos") or []
        size = [min(sizes.cohort.get(float(r["treated"]), 0.0), sizes.cohort.get(float(r["control"]), 0.0))
                for r in tt]
        rec["two_by_twos"] = _table(tt, size, by="type", min_cell=min_cell, keys=("treated", "control"))
        if f"{outcome}[twfe]" in hidden:  # the components add up to it: the whole-sample numbers are hidden too
            rec |= {"twfe": None, "weighted_sum": None, "summary": None}
            if "omega" in rec:
                rec |= {"omega": None, "beta_within": None, "beta_between": None}
    return rec


def _publish(estimator: str, res: Any, d: Any, outcome: str, min_cell: int) -> tuple[Any, dict[str, Any]]:
    sizes = _Sizes(d, min_cell)
    hidden = _hidden_labels(res.estimates, sizes, min_cell)
    estimates = [e.suppress(hidden[e.label]) if e.label in hidden else e for e in res.estimates]
    record = res.to_dict()
    record["estimates"] = [e.to_dict() for e in estimates]
    sd = record.get("sampling_distribution")
    if sd and hidden:
        keep = [i for i, lab in enumerate(sd["labels"]) if lab not in hidden]
        cov = np.asarray(sd["cov"], dtype=float)
        sd |= {"labels": [sd["labels"][i] for i in keep], "mean": [sd["mean"][i] for i in keep],
               "cov": cov[np.ix_(keep, keep)].tolist()}
    record["details"] = _details(estimator, record.get("details") or {}, outcome, sizes, hidden, min_cell)
    n_hidden = len(hidden)
    privacy = {"min_cell": min_cell, "suppressed_estimates": n_hidden, "students": d.students,
               "note": suppression_note(min_cell, n_hidden)}
    record["privacy"] = privacy
    changes: dict[str, Any] = {"estimates": tuple(estimates)}
    if estimator == "bacon":
        tt = record["details"]["two_by_twos"]
        changes["two_by_twos"] = pd.DataFrame(tt).drop(columns="suppressed").astype(
            {"estimate": float, "weight": float}) if tt else res.two_by_twos
    published = replace(res, **changes)
    overall_hidden = bool(estimates) and estimates[0].suppressed
    notes = [] if overall_hidden and estimator == "bacon" else list(res._notes())
    return published, {"estimator": estimator, "results": record, "estimates": record["estimates"],
                       "sample_flow": res.sample_flow.to_dict(), "options": dict(res.options), "notes": notes,
                       "privacy": privacy}


def run_comparison(estimator: str, frame: pd.DataFrame, *, outcome: str, unit: str | None, time: str,
                   cohort: str | None, treatment: str | None, covariates: Sequence[str], cluster: str | None,
                   where: Sequence[str], level: float, options: Mapping[str, Any], min_cell: int) -> ComparisonRun:
    """Fit ``estimator`` (one of :data:`ESTIMATORS` other than ``cs``) and its publishable JSON object.

    ``options``: ``panel``, ``allow_unbalanced``, ``anticipation``, ``control``, ``family``, ``horizons`` and
    ``pretrends`` (those that apply).
    """
    from cteimpact.did.panel import prepare_staggered_data

    if unit is None and estimator != "twfe":
        raise OptionError(f"--estimator {estimator} needs --unit (a panel of units over periods)")
    spec = _SPECS[estimator]
    kw: dict[str, Any] = {"outcome": outcome, "time": time, "unit": unit, "cohort": cohort, "treatment": treatment,
                          "where": tuple(where)}
    opts = {**options, "covariates": list(covariates) or None, "cluster": cluster, "level": level}
    res = spec.fit(frame, kw, opts)
    # the same analysis sample as the fit, for the cohort sizes of the small-cell rule
    sample = spec.sample(opts)
    if "covariates" in spec.applies:
        sample["covariates"] = tuple(covariates)
    d = prepare_staggered_data(frame, **kw, **sample)
    return ComparisonRun(*_publish(estimator, res, d, outcome, min_cell))
