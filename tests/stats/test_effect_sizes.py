"""The package's one home of the WWC effect sizes (cteimpact.stats.effect_sizes): Hedges' g, the small-sample
correction ω, the pooled standard deviation, the Cox index with its one edge convention, and the baseline-equivalence
categories.

Expected values are worked by hand from the WWC formulas (Procedures and Standards Handbook, Version 5.0):
``ω = 1 − 3/(4N − 9)``, ``g = ω (ȳ_t − ȳ_c) / S`` with ``S² = ((n_t − 1)s_t² + (n_c − 1)s_c²)/(n_t + n_c − 2)``, and
``d_Cox = ω [logit(p_t) − logit(p_c)] / 1.65``. The 0.8 / 0.8401784 example is R ``baselinr``'s README study
(treated 5, 6, 7 and comparison 4, 5, 6; proportions 2/3 and 1/3), which reports the Cox index without ω.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import cteimpact.did as did
import cteimpact.did.effect_sizes as did_effect_sizes
import cteimpact.results.effect_sizes as results_effect_sizes
from cteimpact.errors import CteImpactError, DesignError, OptionError
from cteimpact.stats import effect_sizes as es
from cteimpact.stats.effect_sizes import (
    COX_SCALE,
    cox_index,
    hedges_g,
    hedges_omega,
    pooled_sd,
    pooled_sd_from_values,
    standardized_difference,
    wwc_category,
)

# -- hand-worked WWC values -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "omega"), [
    (6, 0.8),                      # 1 − 3/15
    (3, 0.0),                      # 1 − 3/3: the formula's own zero
    (100, 1 - 3 / 391),            # 0.99232737...
    (1000, 0.9992483086945627),    # 1 − 3/3991
])
def test_small_sample_correction_by_hand(n: float, omega: float) -> None:
    assert hedges_omega(n) == pytest.approx(omega, rel=1e-15, abs=1e-15)


def test_hedges_g_of_the_baselinr_study_by_hand() -> None:
    # treated 5, 6, 7 and comparison 4, 5, 6: difference 1, both SDs 1, pooled SD 1, N = 6, ω = 0.8
    t, c = np.array([5.0, 6.0, 7.0]), np.array([4.0, 5.0, 6.0])
    assert pooled_sd_from_values(t, c) == pytest.approx(1.0, rel=1e-15)
    assert hedges_g(1.0, 1.0, 1.0, 3, 3) == pytest.approx(0.8, rel=1e-15)
    assert hedges_g(1.0, 1.0, 1.0, 3, 3, correction=False) == pytest.approx(1.0, rel=1e-15)


def test_hedges_g_with_unequal_groups_by_hand() -> None:
    # S = sqrt((9·2² + 19·1²) / 28) = sqrt(55/28) = 1.40152977645347; ω = 1 − 3/111 = 0.97297297297297
    # g = 0.97297297297297 · 0.5 / 1.40152977645347 = 0.34711106011427
    assert pooled_sd(2.0, 1.0, 10, 20) == pytest.approx(1.4015297764534702, rel=1e-14)
    assert hedges_g(0.5, 2.0, 1.0, 10, 20) == pytest.approx(0.3471110601142747, rel=1e-14)
    assert standardized_difference(0.5, sd_pooled=1.4015297764534702, n_total=30) == pytest.approx(
        0.3471110601142747, rel=1e-14)
    assert hedges_g(-0.5, 2.0, 1.0, 10, 20) == pytest.approx(-0.3471110601142747, rel=1e-14)


def test_cox_index_by_hand() -> None:
    # p_c = 0.5, p_t = 0.75: logit difference ln 3 − 0; ω(100) = 1 − 3/391; d = ω ln 3 / 1.65 = 0.66071699295238
    c = cox_index(0.5, 0.25, n=100)
    assert c.value == pytest.approx(0.660716992952378, rel=1e-14)
    assert c.omega == pytest.approx(1 - 3 / 391, rel=1e-15) and c.reason is None
    assert (c.p_control, c.effect, c.p_treated, c.n) == (0.5, 0.25, 0.75, 100.0)
    assert cox_index(0.5, 0.25, n=100, correction=False).value == pytest.approx(0.6658256294958241, rel=1e-14)
    # baselinr's study: 2/3 against 1/3, N = 6: 2 ln 2 / 1.65 = 0.8401784 without ω, times ω = 0.8 with it
    assert cox_index(1 / 3, p_treated=2 / 3, n=6, correction=False).value == pytest.approx(0.8401784, abs=1e-7)
    assert cox_index(1 / 3, p_treated=2 / 3, n=6).value == pytest.approx(0.6721427205429773, rel=1e-14)
    # a harmful effect is negative, and the index is antisymmetric in the two proportions
    assert cox_index(0.75, -0.25, n=100).value == pytest.approx(-0.660716992952378, rel=1e-14)
    assert COX_SCALE == 1.65


def test_both_forms_of_the_cox_index_agree() -> None:
    for pc, pt, n in ((0.3, 0.35, 1000), (0.85, 0.75, 120), (0.02, 0.03, 10_000)):
        by_effect = cox_index(pc, pt - pc, n=n)
        by_treated = cox_index(pc, p_treated=pt, n=n)
        assert by_effect.value == pytest.approx(by_treated.value, rel=1e-12)
        assert by_treated.p_treated == pt and by_treated.effect == pt - pc


# -- the one edge convention ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("p_control", "effect", "words"), [
    (0.0, 0.1, "comparison proportion p = 0 is not strictly between 0 and 1"),
    (1.0, -0.1, "comparison proportion p = 1 is not strictly between 0 and 1"),
    (0.1, -0.1, "treated-side proportion p + effect = 0 is not strictly between 0 and 1"),
    (0.9, 0.1, "treated-side proportion p + effect = 1 is not strictly between 0 and 1"),
    (0.02, -0.05, "p + effect = -0.03 is not strictly between 0 and 1"),   # an estimate below 0
    (1.2, -0.1, "comparison proportion p = 1.2"),                           # an estimated level above 1
])
def test_a_proportion_at_or_beyond_0_or_1_is_undefined_never_clipped(p_control: float, effect: float,
                                                                      words: str) -> None:
    c = cox_index(p_control, effect, n=1000)
    assert c.value is None
    assert words in (c.reason or "") and "logit is not finite" in (c.reason or "")
    assert c.to_dict()["value"] is None and c.to_dict()["reason"] == c.reason
    # the inputs are kept as given (nothing was clipped to [0.001, 0.999] or corrected by 0.5)
    assert c.p_control == p_control and c.effect == effect


def test_the_treated_proportion_form_names_p_treated_when_it_is_at_the_edge() -> None:
    c = cox_index(0.4, p_treated=1.0, n=50)
    assert c.value is None and "treated proportion p_treated = 1 is not strictly between 0 and 1" in (c.reason or "")
    assert cox_index(0.0, p_treated=0.3, n=50).value is None


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_failed_fit_nan_or_infinite_input_is_undefined(bad: float) -> None:
    assert "not a finite number" in (cox_index(bad, 0.1, n=100).reason or "")
    assert "the effect" in (cox_index(0.3, bad, n=100).reason or "")
    assert "the treated proportion" in (cox_index(0.3, p_treated=bad, n=100).reason or "")


def test_a_small_n_leaves_the_cox_index_undefined_and_omega_refused() -> None:
    small = cox_index(0.3, 0.1, n=2)
    assert small.value is None and small.omega is None and "N = 2 is below 3" in (small.reason or "")
    assert cox_index(0.3, 0.1, n=2.25).value is None
    # 2.25 < N < 3 would make ω negative (1 − 3/(4·2.5 − 9) = −2) and flip the index's sign: undefined too
    assert cox_index(0.3, 0.1, n=2.5).value is None
    assert cox_index(0.3, 0.1, n=math.nan).value is None
    assert cox_index(0.3, 0.1, n=3).value == 0.0  # ω(3) = 0: the formula's own value
    uncorrected = cox_index(0.3, 0.1, n=2, correction=False)  # no ω, no use for N
    assert uncorrected.value == pytest.approx((math.log(0.4 / 0.6) - math.log(0.3 / 0.7)) / 1.65, rel=1e-14)
    assert uncorrected.omega == 1.0 and "without the small-sample correction" in uncorrected.to_dict()["formula"]
    assert "omega = 1 - 3 / (4 n - 9)" in cox_index(0.3, 0.1, n=100).to_dict()["formula"]
    with pytest.raises(OptionError, match=r"n_total = 2: .*needs N of at least 3"):
        hedges_omega(2)
    with pytest.raises(OptionError, match=r"n_total = nan"):
        hedges_omega(math.nan)
    with pytest.raises(OptionError, match=r"n_total = 2\.5"):
        hedges_g(1.0, 1.0, 1.0, 1, 1.5)  # pooled SD defined (N = 2.5 > 2), ω not (it would be −2)


# -- errors: typed, naming the argument --------------------------------------------------------------------------------


@pytest.mark.parametrize(("call", "words"), [
    (lambda: cox_index("0.1", 0.1, n=10), "p_control must be a number, got str"),
    (lambda: cox_index(0.1, None, n=10), "not neither"),
    (lambda: cox_index(0.1, 0.1, n=10, p_treated=0.2), "not both"),
    (lambda: cox_index(0.1, True, n=10), "effect must be a number, got bool"),
    (lambda: cox_index(0.1, p_treated=[0.2], n=10), "p_treated must be a number, got list"),
    (lambda: cox_index(0.1, 0.1, n=None), "n must be a number, got NoneType"),
    (lambda: cox_index(0.1, 0.1, n=-4), "n = -4: the number of students cannot be negative"),
    (lambda: cox_index(0.1, 0.1, n=10, correction="yes"), "correction must be true or false"),
    (lambda: hedges_omega("6"), "n_total must be a number"),
    (lambda: pooled_sd(-1.0, 1.0, 3, 3), "sd_t = -1: a standard deviation cannot be negative"),
    (lambda: pooled_sd(1.0, -0.5, 3, 3), "sd_c = -0.5"),
    (lambda: pooled_sd(1.0, 1.0, 0, 5), "n_t = 0: each group needs at least one member"),
    (lambda: pooled_sd(1.0, 1.0, 5, math.nan), "n_c = nan"),
    (lambda: pooled_sd(1.0, 1.0, 1, 1), "n_t \\+ n_c = 2: the pooled standard deviation needs more than 2"),
    (lambda: pooled_sd_from_values([1.0], [1.0, 2.0]), "values_t has 1 value"),
    (lambda: pooled_sd_from_values([1.0, 2.0], []), "values_c has 0 value"),
    (lambda: standardized_difference(1.0, sd_pooled=-1.0, n_total=10), "sd_pooled = -1"),
    (lambda: standardized_difference("1", sd_pooled=1.0, n_total=10), "difference must be a number"),
    (lambda: wwc_category("large"), "es must be a number"),
])
def test_bad_arguments_are_refused_with_an_option_error_naming_them(call, words: str) -> None:
    with pytest.raises(OptionError, match=words) as info:
        call()
    assert isinstance(info.value, CteImpactError)


def test_nothing_varies_is_a_design_error() -> None:
    with pytest.raises(DesignError, match="pooled standard deviation is zero: Hedges' g is undefined"):
        hedges_g(0.3, 0.0, 0.0, 10, 10)
    with pytest.raises(DesignError, match="pooled standard deviation is zero"):
        standardized_difference(0.3, sd_pooled=0.0, n_total=20)


# -- baseline equivalence ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "category"), [
    (0.0, "satisfied"), (0.05, "satisfied"), (-0.05, "satisfied"),
    (0.0501, "satisfied with adjustment"), (-0.25, "satisfied with adjustment"),
    (0.2501, "not satisfied"), (-3.0, "not satisfied"),
    (math.nan, None), (math.inf, None),
])
def test_wwc_categories_at_their_boundaries(value: float, category: str | None) -> None:
    assert wwc_category(value) == category


# -- the former copies are this one ------------------------------------------------------------------------------------


def test_the_former_homes_re_export_these_functions() -> None:
    assert results_effect_sizes.cox_index is cox_index and results_effect_sizes.hedges_omega is hedges_omega
    assert results_effect_sizes.CoxIndex is es.CoxIndex and results_effect_sizes.COX_SCALE == COX_SCALE
    assert did.cox_index is cox_index and did.hedges_g is hedges_g and did.wwc_category is wwc_category
    for name in ("cox_index", "hedges_g", "hedges_omega", "pooled_sd", "wwc_category", "EQUIVALENCE_LIMIT",
                 "EQUIVALENCE_SATISFIED"):
        assert getattr(did_effect_sizes, name) is getattr(es, name), name


def test_same_numbers_as_the_former_copies_to_the_last_bit() -> None:
    """The expressions the removed copies evaluated (results/effect_sizes.py, did/effect_sizes.py, the RD balance
    check), written out here, against the one implementation: equal bit for bit, not just close."""
    rng = np.random.default_rng(20)
    for _ in range(200):
        n_t, n_c = (int(k) for k in rng.integers(2, 400, size=2))
        v_t, v_c = rng.normal(3.0, 2.0, size=n_t), rng.normal(2.5, 1.5, size=n_c)
        # RD balance check: pooled from the variances
        old = math.sqrt(((n_c - 1) * np.var(v_c, ddof=1) + (n_t - 1) * np.var(v_t, ddof=1)) / (n_t + n_c - 2))
        assert pooled_sd_from_values(v_t, v_c) == old
        jump = float(rng.normal())
        omega = 1.0 - 3.0 / (4.0 * float(n_t + n_c) - 9.0)
        assert standardized_difference(jump, sd_pooled=old, n_total=n_t + n_c) == omega * jump / old
        # DiD: pooled from the standard deviations, Hedges' g
        s_t, s_c = float(np.std(v_t, ddof=1)), float(np.std(v_c, ddof=1))
        old_s = math.sqrt(((n_t - 1) * s_t ** 2 + (n_c - 1) * s_c ** 2) / (n_t + n_c - 2))
        assert pooled_sd(s_t, s_c, n_t, n_c) == old_s
        diff = float(v_t.mean() - v_c.mean())
        assert hedges_g(diff, s_t, s_c, n_t, n_c) == omega * diff / old_s
        # the Cox index: RD's (p_c, effect) and DiD's (p_t, p_c) forms
        pc, eff = float(rng.uniform(0.01, 0.99)), float(rng.uniform(-0.3, 0.3))
        pt = pc + eff
        if 0 < pt < 1:
            old_rd = omega * (math.log(pt / (1.0 - pt)) - math.log(pc / (1.0 - pc))) / COX_SCALE
            assert cox_index(pc, eff, n=n_t + n_c).value == old_rd
            p_t, p_c = pt, pt - eff
            old_did = omega * (math.log(p_t / (1 - p_t)) - math.log(p_c / (1 - p_c))) / 1.65
            assert cox_index(p_c, p_treated=p_t, n=n_t + n_c).value == old_did


def test_the_did_caller_refuses_an_undefined_cox_index_with_its_reason() -> None:
    """A cohort whose baseline proportion is 0: the one Cox index says why it is undefined and baseline equivalence,
    asked for it, refuses with that reason (it neither clips the proportion nor reports a number)."""
    rng = np.random.default_rng(3)
    df, _ = did.simulate_staggered(seed=2, n_clusters=30, n_never_clusters=8, units_per_cluster=10)
    df["grad"] = (df["y"] + rng.normal(size=len(df)) > df["y"].median()).astype(int)
    first = min(int(c) for c in df["cohort"].unique() if c > 0)
    base = max(int(t) for t in df["time"].unique() if t < first)
    df.loc[(df["cohort"] == first) & (df["time"] == base), "grad"] = 0
    res = did.CallawaySantAnna(df, outcome="grad", unit="unit", time="time", cohort="cohort").fit()
    with pytest.raises(DesignError, match=rf"the Cox index of cohort {first}'s baseline difference is undefined: the "
                                          r"treated proportion p_treated = 0 is not strictly between 0 and 1"):
        did.baseline_equivalence(res)
    assert did.effect_size(res).kind == "cox_index"  # the post-period effect size is defined: not refused
