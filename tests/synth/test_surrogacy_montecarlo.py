"""The surrogate index (cteimpact.surrogate) on the synthetic world's structural model (cteimpact.synth.surrogacy).

* Surrogacy true by construction (``longrun_direct_gain = 0``): over 200 draws the 95% intervals cover the true
  long-run effect in 92–98% of draws, and the older-cohort check rarely flags.
* Surrogacy violated (a direct gain of 25% at ages >= 22 for participants in a launched pathway): the estimate
  misses most of the direct part, coverage collapses and the older-cohort check flags it in most draws.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cteimpact.errors import OptionError
from cteimpact.surrogate import SurrogateIndex, surrogate_effect, validate_on_older_cohorts
from cteimpact.synth.surrogacy import SURROGATE_SET, draw_surrogate_study, true_long_run_effect

N = 4000
DRAWS = 200


def _estimate(seed: int, gain: float, n_older: int = N) -> tuple[float, float, float, bool, float]:
    study = draw_surrogate_study(seed, N, longrun_direct_gain=gain, n_older=n_older)
    model = SurrogateIndex(study.observational, outcome=study.outcome, surrogates=list(study.surrogates),
                           covariates=list(study.covariates)).fit()
    row = surrogate_effect(model, study.trial, treatment=study.treatment).estimate(study.outcome)
    check = validate_on_older_cohorts(model, study.older_trial, treatment=study.treatment)
    return row.estimate, row.ci_lower, row.ci_upper, check.flagged, study.true_effect


def test_samples_have_the_columns_of_their_role_and_are_deterministic() -> None:
    a = draw_surrogate_study(3, 500)
    b = draw_surrogate_study(3, 500)
    c = draw_surrogate_study(4, 500)
    assert "earnings_age26" in a.observational and "treat" not in a.observational
    assert "earnings_age26" in a.older_trial and "treat" in a.older_trial
    assert "earnings_age26" not in a.trial and a.trial["treat"].sum() == 250
    for frame in (a.observational, a.older_trial, a.trial):
        assert set(SURROGATE_SET) <= set(frame.columns)
        assert len(frame) == 500
    for x, y in ((a.observational, b.observational), (a.trial, b.trial), (a.older_trial, b.older_trial)):
        assert x.equals(y)
    assert not a.trial.equals(c.trial)
    # the randomised launch raises the interim outcomes in both randomised samples
    for frame in (a.trial, a.older_trial):
        by_arm = frame.groupby("treat")[["completer", "credential"]].mean()
        assert (by_arm.loc[1] > by_arm.loc[0]).all()
    assert a.surrogacy_holds and not draw_surrogate_study(3, 500, longrun_direct_gain=0.1).surrogacy_holds


def test_true_effect_grows_with_the_direct_gain() -> None:
    holds, violated = true_long_run_effect(0.0), true_long_run_effect(0.15)
    assert 1000 < holds < 5000
    assert violated > holds + 1000  # the direct part: ~15% of the earnings of participants in launched pathways


def test_one_draw_recovers_the_long_run_effect() -> None:
    est, lo, hi, _, truth = _estimate(11, 0.0)
    se = (hi - lo) / (2 * 1.959964)
    assert abs(est - truth) < 4 * se, (est, se, truth)
    assert se < 0.5 * truth  # informative at this size


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(OptionError, match="n_students"):
        draw_surrogate_study(1, 5)
    with pytest.raises(OptionError, match="seed"):
        draw_surrogate_study(-1, 100)
    with pytest.raises(OptionError, match="longrun_direct_gain"):
        draw_surrogate_study(1, 100, longrun_direct_gain=-0.1)
    with pytest.raises(OptionError, match="n_older"):
        draw_surrogate_study(1, 100, n_older=3)


@pytest.mark.slow
def test_coverage_when_surrogacy_holds_and_collapse_when_violated() -> None:
    rows = {gain: [_estimate(1000 + r, gain, n_older=5 * N) for r in range(DRAWS)] for gain in (0.0, 0.25)}
    summary = {}
    for gain, res in rows.items():
        est = np.array([r[0] for r in res])
        truth = res[0][4]
        covered = np.mean([r[1] <= truth <= r[2] for r in res])
        flagged = np.mean([r[3] for r in res])
        bias = float(est.mean() - truth)
        mcse = float(est.std(ddof=1)) / math.sqrt(DRAWS)
        summary[gain] = (covered, flagged, bias, mcse, truth)
        print(f"\nlongrun_direct_gain {gain}: truth {truth:.1f}, bias {bias:+.1f} (MC SE {mcse:.1f}), coverage "
              f"{covered:.3f}, older-cohort check flagged {flagged:.3f} over {DRAWS} draws")
    covered, flagged, bias, mcse, _ = summary[0.0]
    assert 0.92 <= covered <= 0.98
    assert abs(bias) < 3 * mcse
    assert flagged <= 0.10
    covered, flagged, bias, _, truth = summary[0.25]
    assert covered < 0.2
    assert bias < -0.2 * truth
    assert flagged >= 0.9
