"""``[surrogate]`` of an analysis specification: keys, defaults, labels and one-line refusals."""

from __future__ import annotations

from typing import Any

import pytest

from cteimpact.errors import SpecificationError
from cteimpact.pipeline.spec import parse_spec

BASE: dict[str, Any] = {
    "study": {"name": "s", "title": "S", "seed": 1},
    "data": {"path": "d.parquet", "columns": {"student_id": "id"}},
    "design": {"type": "rd", "outcomes": ["dropout"], "running": "score", "cutoff": 0.0},
}
SECTION: dict[str, Any] = {"outcome": "earnings_age26", "surrogates": ["credential", "completer"],
                           "training": ["cohort <= 2013"]}


def _spec(section: dict[str, Any] | None = None, **design: Any) -> Any:
    data = {**BASE, "design": {**BASE["design"], **design}}
    if section is not None:
        data["surrogate"] = section
    return parse_spec(data, source="analysis specification 't.toml'")


def test_defaults_and_labels() -> None:
    spec = _spec(SECTION)
    s = spec.surrogate
    assert s is not None
    assert s.projected_label == "earnings_age26[surrogate]"
    assert s.covariates == [] and s.validation_outcome is None and s.validation_alpha == 0.05
    assert s.vce is None and s.cluster is None
    assert spec.surrogate_labels() == ["earnings_age26[surrogate]"]
    fuzzy = _spec({**SECTION, "label": "earnings_long"}, fuzzy="pathway")
    assert fuzzy.surrogate_labels() == ["earnings_long", "earnings_long[reduced_form]"]
    assert fuzzy.resolved()["surrogate"]["label"] == "earnings_long"
    assert _spec().surrogate_labels() == []
    assert "surrogate" not in _spec().resolved()  # the hash of a specification without it does not change
    assert s.columns_used() == ["earnings_age26", "credential", "completer"]
    did = parse_spec({**BASE, "design": {"type": "did", "outcome": "y", "time": "t", "cohort": "g", "unit": "u"},
                      "surrogate": {**SECTION, "validation_outcome": "earnings_age21", "cluster": "district",
                                    "vce": "cr1"}})
    assert did.surrogate_labels() == ["earnings_age26[surrogate]"]
    assert did.surrogate is not None
    assert did.surrogate.columns_used() == ["earnings_age26", "credential", "completer", "earnings_age21", "district"]


@pytest.mark.parametrize(("change", "words"), [
    ({"vce": "cr1"}, "vce = 'cr1' (cluster-robust) needs 'cluster'"),
    ({"vce": "hc3"}, "surrogate.vce"),
    ({"surrogates": []}, "surrogate.surrogates"),
    ({"surrogates": "credential"}, "surrogate.surrogates"),
    ({"training": ["cohort <="]}, "surrogate.training"),
    ({"label": " padded"}, "must be a non-empty label"),
    ({"validation_outcome": "credential"}, "validation_outcome 'credential' is also"),
    ({"validation_alpha": 1.5}, "surrogate.validation_alpha"),
    ({"covariates": ["credential"]}, "'credential' named both as surrogate and as covariate"),
    ({"horizon": 26}, "unknown key 'surrogate.horizon'; allowed keys: outcome, surrogates"),
    ({"label": "dropout"}, "the projected estimate 'dropout' is also an estimate of the design"),
])
def test_refusals_are_one_line(change: dict[str, Any], words: str) -> None:
    with pytest.raises(SpecificationError) as err:
        _spec({**SECTION, **change})
    message = str(err.value)
    assert message.startswith("analysis specification 't.toml': ")
    assert "\n" not in message
    assert words in message


def test_missing_training_is_refused() -> None:
    with pytest.raises(SpecificationError, match="training"):
        _spec({k: v for k, v in SECTION.items() if k != "training"})
