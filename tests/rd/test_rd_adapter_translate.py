"""What the RD adapters share (cteimpact/rd/adapters/_translate.py): the data arrays passed in and the results
passed out as plain data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.rd.adapters import LocalPolynomialFit
from cteimpact.rd.adapters._translate import data_arguments, first_value, plain_fields
from cteimpact.rd.adapters.rdrobust import FirstStage


def test_only_the_arrays_given_are_passed_under_the_packages_names():
    assert data_arguments() == {}
    kwargs = data_arguments(covariates=np.arange(4), cluster=np.array(["a", "b", "a", "c"]))
    assert sorted(kwargs) == ["cluster", "covs"]
    assert kwargs["covs"].shape == (4, 1) and kwargs["covs"].dtype == float
    assert kwargs["cluster"].tolist() == ["a", "b", "a", "c"]
    both = data_arguments(fuzzy=[0, 1, 1], weights=[1, 2, 3])
    assert both["fuzzy"].dtype == float and both["weights"].tolist() == [1.0, 2.0, 3.0]


def test_first_value_reads_a_frame_a_series_or_a_number():
    assert first_value(pd.DataFrame({"a": [0.25, 2.0]})) == 0.25
    assert first_value(pd.Series([3, 4]), 1) == 4.0
    assert isinstance(first_value(np.int64(7)), float)


@dataclass(frozen=True)
class _Inner:
    a: float

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "doubled": 2 * self.a}


@dataclass(frozen=True)
class _Outer:
    pair: tuple[int, int]
    nested: tuple[tuple[float, float], ...]
    beta: np.ndarray
    inner: _Inner | None
    table: dict[str, tuple[float, ...]] = field(default_factory=dict)
    hidden: np.ndarray | None = None
    notes: tuple[str, ...] = ()


def test_plain_fields_lists_tuples_and_arrays_and_uses_nested_to_dict():
    result = _Outer((1, 2), ((0.5, 1.5), (2.5, 3.5)), np.array([1.0, 2.0]), _Inner(0.5), {"mserd": (1.0, 2.0)},
                    hidden=np.eye(2), notes=("a note",))
    plain = plain_fields(result, skip=("hidden",))
    assert plain == {"pair": [1, 2], "nested": [[0.5, 1.5], [2.5, 3.5]], "beta": [1.0, 2.0],
                     "inner": {"a": 0.5, "doubled": 1.0}, "table": {"mserd": [1.0, 2.0]}, "notes": ["a note"]}
    assert list(plain) == ["pair", "nested", "beta", "inner", "table", "notes"]  # declaration order
    json.dumps(plain)  # plain data throughout
    assert plain_fields(_Outer((1, 2), (), np.array([]), None))["inner"] is None


def test_a_fit_and_its_first_stage_write_their_shared_fields_alike():
    jump: dict[str, Any] = {"estimate": 0.5, "estimate_bc": 0.45, "se": 0.1, "se_robust": 0.12, "z": (5.0, 4.5, 3.75),
                            "p_value": (1e-6, 1e-5, 2e-4), "ci": ((0.3, 0.7), (0.25, 0.65), (0.21, 0.69))}
    stage = FirstStage(**jump)
    fit = LocalPolynomialFit(
        **jump, h=(0.5, 0.6), b=(0.8, 0.9), n=(100, 120), n_h=(40, 50), n_b=(60, 70), n_unique=(90, 100), cutoff=0.0,
        p=1, q=2, deriv=0, kernel="triangular", vce="nn", bwselect="mserd", level=95.0, bias=(0.01, 0.02),
        limits=(1.0, 1.5), limits_bc=(1.01, 1.46), beta_left=np.array([1.0, 0.5]), beta_right=np.array([1.5, 0.4]),
        vcov_left=np.eye(2), vcov_right=np.eye(2), first_stage=stage)
    record = fit.to_dict()
    assert "vcov_left" not in record and "vcov_right" not in record
    assert record["first_stage"] == {**{k: record[k] for k in jump}, "f_statistic": 25.0}
    assert record["ci"] == [[0.3, 0.7], [0.25, 0.65], [0.21, 0.69]] and record["beta_left"] == [1.0, 0.5]
    assert list(record)[:7] == list(jump) and list(record)[-2:] == ["notes", "warnings"]
