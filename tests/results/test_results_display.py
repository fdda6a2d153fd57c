"""What people see of a result: str() is the summary, a short repr, the notebook HTML table, params, std_errors and
conf_int(level) (recorded intervals at their own level, rebuilt at another, refused where they cannot be)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from cteimpact.data import SampleFlow
from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import SUPPRESSION_MARKER
from cteimpact.results import EffectEstimate, ExternalEstimate, ImpactResults, ResultsRecord, SamplingDistribution
from cteimpact.results.display import MAX_HTML_ROWS
from cteimpact.results.intervals import IntervalLevelError, interval_at_level


@dataclass(frozen=True)
class BigResults(ImpactResults):
    """A design whose dataclass fields hold large arrays (as a DiD result holds influence functions)."""

    design: ClassVar[str] = "big"
    estimator: ClassVar[str] = "Big estimator (for tests)"

    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    sample_flow: SampleFlow
    influence: np.ndarray
    df: float | None = None

    def sampling_distribution(self) -> SamplingDistribution:
        rows = [e for e in self.estimates if not e.suppressed]
        return SamplingDistribution(tuple(e.label for e in rows), [e.estimate for e in rows],
                                    np.diag([e.std_error**2 for e in rows]), df=self.df)

    def summary(self) -> str:
        return self._default_summary(["Note: big."])

    def plot(self, *args: Any, **kwargs: Any) -> Figure:
        raise NotImplementedError

    def _details(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class OwnRepr(BigResults):
    def __repr__(self) -> str:
        return "own repr"


FLOW = SampleFlow("panel.csv", 5_000, unit="rows").exclude(40, "missing outcome").aggregate(1_234, "to units", "units")


def _rows(df: float | None = None) -> tuple[EffectEstimate, ...]:
    return (
        EffectEstimate.from_normal("earnings", "earnings", "ATT (simple)", 812.5, 120.25, n_effective=900, df=df),
        EffectEstimate.from_normal("earnings[event=0]", "earnings", "ATT at event time 0", 500.0, 150.0, df=df),
        EffectEstimate.from_normal("earnings[event=1]", "earnings", "ATT at event time 1", 700.0, 160.0, df=df)
        .suppress("fewer than 10 students"),
    )


@pytest.fixture
def big() -> BigResults:
    return BigResults(_rows(), {"alpha": 0.05}, FLOW, np.arange(300_000, dtype=float).reshape(1000, 300))


# -- str / repr / html ----------------------------------------------------------------------------------------------
def test_str_is_the_summary(big):
    assert str(big) == big.summary()
    assert "Note: big." in str(big) and "Sample flow" in str(big)


def test_repr_is_one_short_line_even_with_large_fields(big):
    r = repr(big)
    assert "\n" not in r and len(r) < 200
    assert r == "<BigResults design=big outcome=earnings earnings=812.5 (SE 120.2) N=1,234 units>"
    assert "300000" not in r and "array" not in r


def test_a_subclass_defining_its_own_repr_keeps_it(big):
    own = OwnRepr(big.estimates, big.options, big.sample_flow, big.influence)
    assert repr(own) == "own repr"


def test_repr_of_many_long_outcomes_stays_short():
    rows = tuple(EffectEstimate.from_normal(f"outcome_{i}_" + "x" * 80, f"outcome_{i}_" + "x" * 80, "t", 1.0, 0.5)
                 for i in range(12))
    r = repr(BigResults(rows, {}, FLOW, np.zeros(1)))
    assert len(r) < 200
    assert "(+9)" in r  # three outcomes shown, nine counted
    huge = (EffectEstimate.from_normal("y" * 500, "y" * 500, "t", 1e300, 1e299),)
    r = repr(BigResults(huge, {}, SampleFlow("s" * 300, 10**15, unit="u" * 300), np.zeros(1)))
    assert len(r) < 200 and "1e+300" in r


def test_repr_of_a_suppressed_headline_shows_no_number():
    rows = (EffectEstimate.from_normal("y", "y", "t", 0.123456, 0.05).suppress("small cell"),)
    r = repr(BigResults(rows, {}, FLOW, np.zeros(1)))
    assert "0.1234" not in r and SUPPRESSION_MARKER in r and "suppressed" in r


def test_repr_of_a_record_and_an_external_estimate(big):
    rec = ResultsRecord.from_dict(big.to_dict())
    assert repr(rec).startswith("<ResultsRecord design=big outcome=earnings earnings=812.5 (SE 120.2)")
    assert repr(ExternalEstimate(label="dropout", effect=-0.02, std_error=0.008)) == (
        "<ExternalEstimate design=external outcome=dropout dropout=-0.02 (SE 0.008) N=0 estimates>")


def test_html_escapes_every_string_and_hides_suppressed_numbers():
    rows = (EffectEstimate.from_normal("<script>alert(1)</script>", "y&z", "term with <b>tags</b>", 1.5, 0.5),
            EffectEstimate.from_normal("y[g=1]", "y&z", "t", 0.777777, 0.1).suppress("small <cell>"))
    flow = SampleFlow("<img src=x>", 100)
    h = BigResults(rows, {}, flow, np.zeros(1))._repr_html_()
    assert "<script>" not in h and "<b>" not in h and "<img" not in h
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in h and "term with &lt;b&gt;tags&lt;/b&gt;" in h
    assert "<caption>Big estimator (for tests) (design: big; N = 100 rows)</caption>" in h
    assert "0.7778" not in h and SUPPRESSION_MARKER in h
    assert h.count("<tr>") == 3  # header and two rows
    assert "1.5000" in h and "0.5000" in h


def test_html_of_many_estimates_is_capped_with_a_count():
    rows = tuple(EffectEstimate.from_normal(f"y[e={i}]", "y", "t", float(i), 1.0) for i in range(MAX_HTML_ROWS + 7))
    h = BigResults(rows, {}, FLOW, np.zeros(1))._repr_html_()
    assert h.count("<tr>") == MAX_HTML_ROWS + 1
    assert f"7 more estimates not shown; tidy() has all {MAX_HTML_ROWS + 7}." in h


# -- params / std_errors / conf_int ------------------------------------------------------------------------------------
def test_params_and_std_errors_are_series_by_label(big):
    p, s = big.params, big.std_errors
    assert isinstance(p, pd.Series) and isinstance(s, pd.Series)
    assert list(p.index) == list(big.labels) and p.index.name == "label"
    assert p["earnings"] == 812.5 and s["earnings[event=0]"] == 150.0
    assert math.isnan(p["earnings[event=1]"]) and math.isnan(s["earnings[event=1]"])


def test_conf_int_at_the_recorded_level_is_the_recorded_interval(big):
    ci = big.conf_int()
    assert list(ci.columns) == ["lower", "upper"]
    for e in big.estimates[:2]:
        assert (ci.loc[e.label, "lower"], ci.loc[e.label, "upper"]) == (e.ci_lower, e.ci_upper)
    assert ci.loc["earnings[event=1]"].isna().all()


def test_conf_int_at_another_level_uses_the_normal_critical_value(big):
    ci = big.conf_int(0.90, labels=["earnings"])
    z = stats.norm.ppf(0.95)
    assert list(ci.index) == ["earnings"]
    assert ci.loc["earnings", "lower"] == pytest.approx(812.5 - z * 120.25, rel=1e-12)
    assert ci.loc["earnings", "upper"] == pytest.approx(812.5 + z * 120.25, rel=1e-12)
    assert big.conf_int(0.99).loc["earnings[event=1]"].isna().all()  # suppressed: nothing to rebuild


def test_conf_int_uses_the_recorded_t_degrees_of_freedom():
    res = BigResults(_rows(df=9), {}, FLOW, np.zeros(1), df=9)
    ci = res.conf_int(0.80)
    t = stats.t.ppf(0.90, 9)
    assert ci.loc["earnings[event=0]", "upper"] == pytest.approx(500 + t * 150, rel=1e-12)
    # read back from JSON the degrees of freedom come from the sampling distribution
    rec = ResultsRecord.from_dict(res.to_dict())
    pd.testing.assert_frame_equal(rec.conf_int(0.80), ci)


def test_conf_int_refuses_t_intervals_when_the_df_is_not_recorded():
    # intervals built with t(9) on a result that does not record df: not normal, so not silently rebuilt as normal
    res = BigResults(_rows(df=9), {}, FLOW, np.zeros(1), df=None)
    with pytest.raises(IntervalLevelError, match=r"'earnings' \(ATT \(simple\)\).*not the normal critical value"):
        res.conf_int(0.9)


def test_robust_bias_corrected_intervals_are_rebuilt_around_their_centre():
    # the estimate is the conventional one; the interval is centred at the bias-corrected one
    e = EffectEstimate.from_normal("y", "y", "RD", 0.40, 0.11, ci_type="robust_bias_corrected", centre=0.42)
    lo, hi = interval_at_level(e, 0.90)
    z = stats.norm.ppf(0.95)
    assert (lo + hi) / 2 == pytest.approx(0.42, rel=1e-12)
    assert hi - lo == pytest.approx(2 * z * 0.11, rel=1e-12)


@pytest.mark.parametrize(("ci_type", "words"), [
    ("simultaneous", "simultaneous (sup-t) band"),
    ("wild_cluster_bootstrap", "wild cluster bootstrap"),
    ("randomization", "randomisation test"),
])
def test_conf_int_refuses_intervals_that_cannot_be_rebuilt(ci_type, words):
    c = 2.9  # a sup-t critical value, or any interval from a test inversion
    e = EffectEstimate("y[event=2]", "y", "ATT at event time 2", 1.0, 0.2, 5.0, 0.01, 1.0 - c * 0.2, 1.0 + c * 0.3,
                       0.95, ci_type)
    res = BigResults((EffectEstimate.from_normal("y", "y", "ATT", 1.0, 0.2), e), {}, FLOW, np.zeros(1))
    with pytest.raises(IntervalLevelError) as info:
        res.conf_int(0.9)
    msg = str(info.value)
    assert "'y[event=2]' (ATT at event time 2)" in msg and words in msg and "level 0.9" in msg
    assert isinstance(info.value, OptionError)
    # its own level is fine, and leaving it out is fine
    assert res.conf_int(0.95).loc["y[event=2]", "upper"] == pytest.approx(1.0 + c * 0.3)
    assert list(res.conf_int(0.9, labels=["y"]).index) == ["y"]


def test_conf_int_refuses_a_conventional_interval_not_centred_at_the_estimate():
    e = EffectEstimate("y", "y", "effect", 1.0, 0.5, 2.0, 0.05, 0.2, 0.2 + 2 * 1.959963984540054 * 0.5, 0.95,
                       "conventional")
    with pytest.raises(IntervalLevelError, match="not centred at the estimate"):
        interval_at_level(e, 0.9)


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, "0.9", True, float("nan")])
def test_conf_int_level_outside_0_1_is_an_option_error(big, level):
    with pytest.raises(OptionError, match="level must be a number strictly between 0 and 1"):
        big.conf_int(level)


def test_conf_int_unknown_label(big):
    with pytest.raises(OptionError, match="no estimate labelled 'wages'"):
        big.conf_int(0.9, labels=["wages"])
