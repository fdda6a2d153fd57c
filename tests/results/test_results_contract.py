"""The results contract: ImpactResults' provided methods, ExternalEstimate and ResultsRecord."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from cteimpact.data import SampleFlow
from cteimpact.errors import OptionError, SpecificationError
from cteimpact.results import (
    RESULTS_SCHEMA,
    TIDY_COLUMNS,
    EffectEstimate,
    ExternalEstimate,
    HasSamplingDistribution,
    ImpactResults,
    ResultsRecord,
    SamplingDistribution,
    dumps_json,
)


@dataclass(frozen=True)
class ToyResults(ImpactResults):
    """A minimal design honouring the contract (what an estimator's results class looks like)."""

    design: ClassVar[str] = "toy"
    estimator: ClassVar[str] = "Toy estimator (for tests)"

    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    sample_flow: SampleFlow
    cov: np.ndarray

    def sampling_distribution(self) -> SamplingDistribution:
        return SamplingDistribution(self.labels, [e.estimate for e in self.estimates], self.cov, df=24,
                                    centre="point estimate", scale="cluster-robust standard error")

    def summary(self) -> str:
        return self._default_summary(["Note: toy."])

    def plot(self, *args: Any, **kwargs: Any) -> Figure:
        from cteimpact.plotting import plot_estimates

        return plot_estimates(self.estimates, **kwargs)

    def _details(self) -> dict[str, Any]:
        return {"bandwidth": np.float64(7.25), "n_clusters": np.int64(25), "weights": np.array([0.5, 0.5])}


@pytest.fixture
def toy() -> ToyResults:
    est = (
        EffectEstimate.from_normal("dropout", "dropout", "RD effect at cutoff (sharp)", -0.0231, 0.0094,
                                   n_effective=5123, df=24),
        EffectEstimate.from_normal("dropout[female=1]", "dropout", "RD effect, female", -0.0412, 0.0151,
                                   n_effective=2488, df=24),
        # an estimate without a test (SE zero): NaN must survive the round trip as null
        EffectEstimate.from_normal("dropout[round=2]", "dropout", "RD effect, round 2", 0.001, 0.0, df=24),
    )
    cov = np.array([[0.0094**2, 0.5 * 0.0094 * 0.0151, 0.0], [0.5 * 0.0094 * 0.0151, 0.0151**2, 0.0],
                    [0.0, 0.0, 0.0]])
    flow = SampleFlow("students.parquet", 10_000, unit="students").exclude(120, "missing dropout")
    return ToyResults(est, {"kernel": "triangular", "cluster": "consortium_id", "covariates": ("a", "b")}, flow, cov)


def test_tidy_has_exactly_the_fixed_columns(toy):
    t = toy.tidy()
    assert tuple(t.columns) == TIDY_COLUMNS
    assert t["label"].tolist() == ["dropout", "dropout[female=1]", "dropout[round=2]"]
    assert t.loc[0, "estimate"] == -0.0231
    assert t.loc[1, "n_effective"] == 2488.0
    assert math.isnan(t.loc[2, "p_value"])


def test_tidy_of_no_estimates_still_has_the_columns():
    ext = ExternalEstimate(label="y", effect=1.0, std_error=0.5)
    empty = ToyResults((), {}, SampleFlow("s", 0), np.zeros((0, 0)))
    assert tuple(empty.tidy().columns) == TIDY_COLUMNS
    assert len(empty.tidy()) == 0
    assert tuple(ext.tidy().columns) == TIDY_COLUMNS


def test_labels_and_estimate_lookup(toy):
    assert toy.labels == ("dropout", "dropout[female=1]", "dropout[round=2]")
    assert toy.estimate("dropout[female=1]").estimate == -0.0412
    with pytest.raises(OptionError) as info:
        toy.estimate("graduation")
    assert str(info.value) == (
        "no estimate labelled 'graduation'; available: dropout, dropout[female=1], dropout[round=2]"
    )


def test_to_dict_layout(toy):
    d = toy.to_dict()
    assert list(d) == ["schema", "design", "estimator", "estimates", "sampling_distribution", "options",
                       "sample_flow", "details"]
    assert d["schema"] == RESULTS_SCHEMA == "cteimpact.results/1"
    assert d["design"] == "toy"
    assert [tuple(e) for e in d["estimates"]] == [TIDY_COLUMNS] * 3
    assert d["estimates"][2]["p_value"] is None
    assert d["sampling_distribution"]["family"] == "t"
    assert d["sampling_distribution"]["df"] == 24.0
    assert d["options"]["covariates"] == ["a", "b"]
    assert d["sample_flow"]["rows_used"] == 9880
    assert d["details"] == {"bandwidth": 7.25, "n_clusters": 25, "weights": [0.5, 0.5]}
    json.loads(dumps_json(d))  # JSON-ready
    assert dumps_json(d) == dumps_json(toy.to_dict())  # deterministic


def test_record_round_trip_is_identical(toy):
    d = toy.to_dict()
    record = ResultsRecord.from_dict(json.loads(dumps_json(d)))
    assert record.to_dict() == d
    assert dumps_json(record.to_dict()) == dumps_json(d)
    assert record.labels == toy.labels
    assert record.record_design == "toy"
    # a second trip changes nothing either
    assert ResultsRecord.from_dict(record.to_dict()).to_dict() == d
    # the record serves pricing exactly as the fitted result does
    a, b = toy.sampling_distribution(), record.sampling_distribution()
    assert a.labels == b.labels
    assert a.mean.tobytes() == b.mean.tobytes()
    assert a.cov.tobytes() == b.cov.tobytes()
    assert a.df == b.df
    np.testing.assert_array_equal(a.draw(50, np.random.default_rng(3)), b.draw(50, np.random.default_rng(3)))
    pd.testing.assert_frame_equal(record.tidy(), toy.tidy())


def test_results_satisfy_the_pricing_protocol(toy):
    ext = ExternalEstimate(label="earnings", effect=850.0, std_error=300.0)
    record = ResultsRecord.from_dict(toy.to_dict())
    for r in (toy, ext, record):
        assert isinstance(r, HasSamplingDistribution)


def test_summary_and_plot(toy):
    text = toy.summary()
    lines = text.splitlines()
    assert lines[0] == "Toy estimator (for tests)"
    assert "dropout[female=1]" in text
    assert "Sample flow" in lines
    assert "      10,000  students read from students.parquet" in lines
    assert lines[-1] == "Note: toy."
    record = ResultsRecord.from_dict(toy.to_dict())
    assert record.summary().splitlines()[0] == "Toy estimator (for tests) (design: toy; read from a results record)"
    fig = record.plot()
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].get_yticklabels()) == 3


# -- ExternalEstimate --------------------------------------------------------------------------------------------


def test_external_estimate_honours_the_contract():
    ext = ExternalEstimate(label="dropout", effect=-0.023, std_error=0.0081, source="Published RD (table 3)")
    (e,) = ext.estimates
    assert (e.label, e.outcome, e.estimate, e.std_error, e.ci_type) == ("dropout", "dropout", -0.023, 0.0081,
                                                                         "external")
    assert e.statistic == -0.023 / 0.0081
    dist = ext.sampling_distribution()
    assert dist.labels == ("dropout",)
    assert dist.marginal("dropout") == (-0.023, 0.0081)
    assert tuple(ext.tidy().columns) == TIDY_COLUMNS
    d = ext.to_dict()
    assert d["design"] == "external"
    assert d["details"] == {"source": "Published RD (table 3)"}
    assert d["options"] == {"effect": -0.023, "std_error": 0.0081, "source": "Published RD (table 3)"}
    assert ResultsRecord.from_dict(json.loads(dumps_json(d))).to_dict() == d
    assert "Source: Published RD (table 3)" in ext.summary()
    assert isinstance(ext.plot(), Figure)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"std_error": -1.0}, "standard error of 'effect' must be finite and non-negative, got -1.0"),
        ({"std_error": math.nan}, "standard error of 'effect' must be finite and non-negative, got nan"),
        ({"std_error": math.inf}, "standard error of 'effect' must be finite and non-negative, got inf"),
        ({"effect": math.nan, "std_error": 1.0}, "effect 'effect' must be a finite number, got nan"),
        ({"std_error": 1.0, "ci_level": 1.5}, "ci_level must be in (0, 1), got 1.5"),
    ],
)
def test_external_estimate_validation(kwargs, message):
    with pytest.raises(OptionError) as info:
        ExternalEstimate(**kwargs)
    assert str(info.value) == message


# -- ResultsRecord: wrong records -----------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", [None, "cteimpact.results/0", "cteimpact.results/2", 1])
def test_wrong_schema(toy, schema):
    d = toy.to_dict()
    if schema is None:
        del d["schema"]
    else:
        d["schema"] = schema
    with pytest.raises(SpecificationError) as info:
        ResultsRecord.from_dict(d)
    assert str(info.value) == (
        f"results record has schema {schema!r}; this version of cteimpact reads 'cteimpact.results/1'"
    )


@pytest.mark.parametrize("key", ["design", "estimator", "estimates", "sample_flow", "sampling_distribution"])
def test_missing_key(toy, key):
    d = toy.to_dict()
    del d[key]
    with pytest.raises(SpecificationError, match=rf"^results record lacks the key '{key}'$"):
        ResultsRecord.from_dict(d)


def _break(d: dict, what: str) -> None:
    if what == "estimates not a list":
        d["estimates"] = "dropout"
    elif what == "estimate lacks outcome":
        del d["estimates"][0]["outcome"]
    elif what == "estimate with a bad ci_type":
        d["estimates"][0]["ci_type"] = "robust"
    elif what == "estimate not an object":
        d["estimates"][0] = [1, 2]
    elif what == "sample flow not an object":
        d["sample_flow"] = []
    elif what == "sample flow lacks rows_read":
        del d["sample_flow"]["rows_read"]
    elif what == "distribution lacks mean":
        del d["sampling_distribution"]["mean"]
    elif what == "distribution not symmetric":
        d["sampling_distribution"]["cov"][0][1] = 1.0
    elif what == "options not an object":
        d["options"] = 3
    else:  # pragma: no cover
        raise AssertionError(what)


@pytest.mark.parametrize(
    ("what", "part"),
    [
        ("estimates not a list", "estimates"),
        ("estimate lacks outcome", "estimates"),
        ("estimate with a bad ci_type", "estimates"),
        ("estimate not an object", "estimates"),
        ("sample flow not an object", "sample_flow"),
        ("sample flow lacks rows_read", "sample_flow"),
        ("distribution lacks mean", "sampling_distribution"),
        ("distribution not symmetric", "sampling_distribution"),
        ("options not an object", "options"),
    ],
)
def test_malformed_parts_raise_specification_errors_naming_the_part(toy, what, part):
    d = copy.deepcopy(toy.to_dict())
    _break(d, what)
    with pytest.raises(SpecificationError) as info:
        ResultsRecord.from_dict(d)
    assert str(info.value).startswith(f"results record: '{part}' ")


def test_repeated_labels_are_refused(toy):
    d = toy.to_dict()
    d["estimates"] = d["estimates"] + d["estimates"][:2]
    with pytest.raises(SpecificationError) as info:
        ResultsRecord.from_dict(d)
    assert str(info.value) == (
        "results record: 2 estimates repeat a label (dropout, dropout[female=1]); labels must be unique"
    )


@pytest.mark.parametrize("bad", [[1, 2], "cteimpact.results/1", None])
def test_record_that_is_not_an_object(bad):
    with pytest.raises(SpecificationError, match=r"^a results record must be a mapping \(JSON object\), got"):
        ResultsRecord.from_dict(bad)
