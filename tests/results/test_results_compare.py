"""compare(): side-by-side table of several results (estimates with SEs, N, design, options that differ)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from cteimpact.data import SampleFlow
from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import SUPPRESSION_MARKER
from cteimpact.results import (
    ComparisonTable,
    EffectEstimate,
    ExternalEstimate,
    ImpactResults,
    ResultsRecord,
    SamplingDistribution,
    compare,
)
from cteimpact.results.compare import COMPARISON_COLUMNS


@dataclass(frozen=True)
class Toy(ImpactResults):
    design: ClassVar[str] = "toy"
    estimator: ClassVar[str] = "Toy"

    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    sample_flow: SampleFlow

    def sampling_distribution(self) -> SamplingDistribution:
        rows = [e for e in self.estimates if not e.suppressed]
        return SamplingDistribution(tuple(e.label for e in rows), [e.estimate for e in rows],
                                    np.diag([e.std_error**2 for e in rows]))

    def summary(self) -> str:
        return self._default_summary()

    def plot(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _details(self) -> dict[str, Any]:
        return {}


def _toy(effect: float, se: float, n: int, **options: Any) -> Toy:
    rows = (EffectEstimate.from_normal("dropout", "dropout", "RD", effect, se),
            EffectEstimate.from_normal("dropout[female=1]", "dropout", "RD, female", effect * 2, se * 2))
    return Toy(rows, {"kernel": "triangular", "p": 1, **options}, SampleFlow("s", n, unit="students"))


def test_side_by_side_estimates_ses_n_design_and_differing_options():
    a, b = _toy(-0.0312, 0.0101, 5_000), _toy(-0.0287, 0.0123, 4_200, p=2, cluster="consortium")
    t = compare([a, b], names=["main", "quadratic"])
    assert isinstance(t, ComparisonTable)
    f = t.frame
    assert list(f.columns) == ["main", "quadratic"]
    assert list(f.index) == ["dropout", "dropout (SE)", "N", "design", "option: p"]
    assert f.loc["dropout"].tolist() == ["-0.0312", "-0.0287"]
    assert f.loc["dropout (SE)"].tolist() == ["(0.0101)", "(0.0123)"]
    assert f.loc["N"].tolist() == ["5,000 students", "4,200 students"]
    assert f.loc["option: p"].tolist() == ["1", "2"]
    # 'kernel' is the same and 'cluster' is set by one model only: neither is a difference
    assert "option: kernel" not in f.index and "option: cluster" not in f.index
    num = t.numbers
    assert tuple(num.columns) == COMPARISON_COLUMNS
    assert num["estimate"].tolist() == [-0.0312, -0.0287]  # full precision
    assert num["model"].tolist() == ["main", "quadratic"]


def test_all_labels_default_names_missing_and_suppressed_cells():
    a = _toy(-0.03, 0.01, 100)
    hidden = Toy((a.estimates[0], a.estimates[1].suppress("fewer than 10 students")), a.options, a.sample_flow)
    ext = ExternalEstimate(label="dropout", effect=-0.02, std_error=0.008)
    t = compare([a, hidden, ext], labels="all")
    f = t.frame
    assert list(f.columns) == ["(1)", "(2)", "(3)"]
    assert f.loc["dropout[female=1]"].tolist() == ["-0.0600", SUPPRESSION_MARKER, ""]
    assert f.loc["dropout[female=1] (SE)"].tolist() == ["(0.0200)", f"({SUPPRESSION_MARKER})", ""]
    assert f.loc["design"].tolist() == ["toy", "toy", "external"]
    row = t.numbers[(t.numbers["model"] == "(2)") & (t.numbers["label"] == "dropout[female=1]")]
    assert bool(row["suppressed"].iloc[0]) and math.isnan(row["estimate"].iloc[0])


def test_records_compare_like_the_results_they_came_from():
    a = _toy(-0.03, 0.01, 100)
    rec = ResultsRecord.from_dict(a.to_dict())
    t = compare([a, rec], names=["fitted", "record"])
    assert t.frame.loc["dropout"].tolist() == ["-0.0300", "-0.0300"]
    assert t.frame.loc["design"].tolist() == ["toy", "toy"]


def test_text_and_html_renderings():
    a, b = _toy(-0.0312, 0.0101, 5_000), _toy(-0.0287, 0.0123, 4_200, p=2)
    t = compare([a, b], names=["<main>", "p & q"])
    text = str(t)
    lines = text.splitlines()
    assert lines[0].split() == ["<main>", "p", "&", "q"]
    assert set(lines[1]) == {"-"}
    assert lines[2].split() == ["dropout", "-0.0312", "-0.0287"]
    h = t._repr_html_()
    assert "<main>" not in h and "&lt;main&gt;" in h and "p &amp; q" in h
    assert h.count("<tr>") == 1 + len(t.frame.index)
    assert repr(t) == "<ComparisonTable 2 models × 5 rows>"


def test_chosen_labels_and_digits():
    t = compare([_toy(-0.0312, 0.0101, 50)], labels=["dropout[female=1]"], digits=2)
    assert t.frame.index[:2].tolist() == ["dropout[female=1]", "dropout[female=1] (SE)"]
    assert t.frame.iloc[0, 0] == "-0.06"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"models": []}, "compare needs at least one result"),
    ({"models": ["x"]}, "compare: model 1 is a str, not a fitted result"),
    ({"names": ["a"]}, "names has 1 entries for 2 models"),
    ({"names": ["a", "a"]}, "names must be unique; repeated: a"),
    ({"names": "ab"}, "names must be a list of strings"),
    ({"labels": ["earnings"]}, "no model has an estimate labelled 'earnings'"),
    ({"labels": "some"}, "labels must be 'primary', 'all' or a list of labels"),
    ({"digits": -1}, "digits must be a whole number from 0 to 12"),
])
def test_bad_input(kwargs, message):
    models = kwargs.pop("models", [_toy(-0.03, 0.01, 100), _toy(-0.02, 0.01, 100)])
    with pytest.raises(OptionError) as info:
        compare(models, **kwargs)
    assert str(info.value).startswith(message)


def test_frame_is_a_dataframe_copy():
    t = compare([_toy(-0.03, 0.01, 100)])
    f = t.to_frame()
    assert isinstance(f, pd.DataFrame)
    f.iloc[0, 0] = "changed"
    assert t.frame.iloc[0, 0] == "-0.0300"
