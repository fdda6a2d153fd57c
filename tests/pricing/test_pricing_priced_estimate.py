"""Each priced estimate is named once, with one value (issue 11, item 7): the contract's outcome and estimate label,
the results label it was priced on, the point estimate "at the estimate" payments use and which one it is
(conventional or bias-corrected centre), and the standard error the draws use. Quantities the report used to
compute from the pricing record (students served, each payor's nominal payment, the evaluation's power) are
recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.pricing import price_contract
from cteimpact.results import EffectEstimate, ExternalEstimate, ResultsRecord, SamplingDistribution

CCPT = Path(__file__).resolve().parents[2] / "analyses" / "contracts" / "ccpt-dropout-rate-card.toml"
CONVENTIONAL, BIAS_CORRECTED, ROBUST_SE = -0.026539789549177975, -0.028227654811029547, 0.014691354879438618


def _rd_record() -> ResultsRecord:
    """An RD-like record: the row reports the conventional estimate with the robust interval, centred (like the
    sampling distribution) on the bias-corrected estimate; a LATE row under another label."""
    rows = (
        EffectEstimate.from_normal("dropout", "dropout", "RD effect at the cutoff (fuzzy: local average effect of "
                                   "take-up)", -0.0755, 0.0427, ci_type="robust_bias_corrected", centre=-0.0795),
        EffectEstimate.from_normal("dropout[reduced_form]", "dropout", "reduced form: jump in the outcome (intention "
                                   "to treat)", CONVENTIONAL, ROBUST_SE, ci_type="robust_bias_corrected",
                                   centre=BIAS_CORRECTED),
    )
    dist = SamplingDistribution(("dropout", "dropout[reduced_form]"), np.array([-0.0795, BIAS_CORRECTED]),
                                np.diag([0.0427**2, ROBUST_SE**2]), joint=False,
                                centre="bias-corrected RD estimate (tau_bc)", scale="robust bias-corrected standard "
                                "error (Calonico, Cattaneo & Titiunik 2014)")
    return ResultsRecord("rd", "test", rows, {}, SampleFlow("test", 0, unit="estimates"), dist, {})


def test_priced_estimate_names_its_single_value() -> None:
    res = price_contract(CCPT, _rd_record(), labels={"dropout": "dropout[reduced_form]"}, draws=2000, seed=1)
    (e,) = res.estimates
    assert e["outcome"] == "dropout_prevented"
    assert e["contract_estimate"] == "dropout"
    assert e["label"] == "dropout[reduced_form]"
    assert e["term"].startswith("reduced form")
    assert e["centre"] == BIAS_CORRECTED
    assert e["centre_kind"] == "bias_corrected"
    assert e["centre_description"] == "bias-corrected RD estimate (tau_bc)"
    assert e["reported_estimate"] == CONVENTIONAL != e["centre"]
    assert e["std_error"] == ROBUST_SE == e["reported_std_error"]
    assert e["std_error_description"].startswith("robust bias-corrected standard error")
    # "at the estimate" payments use the centre: the improvement 0.02823 is below the significance bound
    # 1.96 x 0.01469 = 0.02879, so nothing is due; the conventional estimate would not change that
    assert res.payments["at_estimate"] == 0.0
    d = res.to_dict()
    assert d["contract"]["primary_label"] == "dropout[reduced_form]"


def test_external_estimate_is_its_own_centre() -> None:
    res = price_contract(CCPT, ExternalEstimate(label="dropout", effect=-0.03, std_error=0.01), draws=2000, seed=1)
    (e,) = res.estimates
    assert e["centre_kind"] == "reported_estimate" and e["reported_estimate"] == e["centre"] == -0.03
    assert e["contract_estimate"] == e["label"] == "dropout"


def test_quantities_the_report_computed_are_recorded() -> None:
    res = price_contract(CCPT, ExternalEstimate(label="dropout", effect=-0.035, std_error=0.01), draws=2000, seed=1)
    d = res.to_dict()
    assert d["contract"]["students"] == 10_000.0 and d["contract"]["cohorts"] == 4
    for p in d["payors"].values():
        assert p["payment_nominal_at_estimate"] == pytest.approx(sum(p["payment_by_year_at_estimate"]), rel=1e-12)
    assert sum(p["payment_nominal_at_estimate"] for p in d["payors"].values()) == pytest.approx(
        d["payments"]["at_estimate"], rel=1e-12)
    assert d["payments"]["at_estimate"] == pytest.approx(25_000 * 0.035 * 10_000, rel=1e-12)
    assert d["evaluation"]["power"] == 0.8 and d["evaluation"]["alpha"] == 0.05
    assert all(th["power"] == 0.8 for th in d["thresholds"])
    assert "censored" in d["simulation"]["outside_admissible"]
