"""Contract specification: valid contracts load (from TOML or a mapping); bad ones give one clear line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cteimpact.errors import SpecificationError
from cteimpact.pricing import example_contract, example_names, load_contract, price_contract
from cteimpact.pricing.contract import Contract
from cteimpact.results import ExternalEstimate


def test_mapping_and_round_trip(base_contract: dict[str, Any]) -> None:
    c = load_contract(base_contract)
    assert isinstance(c, Contract)
    assert c.primary_outcome.name == "grad"
    assert c.payor_shares(c.outcomes[0]) == {"state": 1.0}
    again = load_contract(c.to_dict())
    assert again == c


def test_examples_load() -> None:
    assert set(example_names()) >= {"schedule_rikers", "two_payor_chicago_cpc", "rate_card_uk_innovation_fund"}
    for name in example_names():
        c = load_contract(example_contract(name))
        assert c.contract.sources, f"{name} must cite its sources"
        assert c.contract.assumptions, f"{name} must state the terms it assumed"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mod(d: dict[str, Any]) -> None:
        node: Any = d
        parts = path.split(".")
        for p in parts[:-1]:
            node = node[int(p)] if p.isdigit() else node[p]
        last = parts[-1]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return mod


_DELETE = object()

SCHEDULE = {"kind": "schedule", "tiers": [{"at": 0.05, "pay": 100.0}, {"at": 0.10, "pay": 200.0}]}

BAD: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("negative price", _set("outcomes.0.payment.price", -5.0), "outcomes[0].payment.price: must be >= 0"),
    ("overlapping tiers", _set("outcomes.0.payment", {"kind": "schedule", "tiers": [
        {"at": 0.10, "pay": 100.0}, {"at": 0.10, "pay": 200.0}]}), "tiers overlap or are out of order"),
    ("out-of-order tiers", _set("outcomes.0.payment", {"kind": "schedule", "tiers": [
        {"at": 0.10, "pay": 100.0}, {"at": 0.05, "pay": 200.0}]}), "tiers[1].at = 0.05 is not above"),
    ("decreasing pay", _set("outcomes.0.payment", {"kind": "schedule", "tiers": [
        {"at": 0.05, "pay": 300.0}, {"at": 0.10, "pay": 200.0}]}), "must not pay less"),
    ("threshold in the wrong direction", _set("outcomes.0.payment", {"kind": "schedule", "tiers": [
        {"at": -0.02, "pay": 100.0}]}), "outcomes[0].payment.tiers[0].at: threshold -0.02 is not an improvement"),
    ("unknown payor", _set("outcomes.0.payors", {"city": 1.0}), "outcomes[0].payors: unknown payor 'city'"),
    ("shares not summing to 1", _set("payors", [{"name": "a", "level": "state", "share": 0.5},
                                                {"name": "b", "level": "local", "share": 0.4}]),
     "payors: shares must sum to 1, sum to 0.9"),
    ("outcome shares not summing to 1", _set("outcomes.0.payors", {"state": 0.7}),
     "outcomes[0].payors: shares must sum to 1"),
    ("unknown key with suggestion", _set("outcomes.0.payment.prce", 5.0),
     "unknown key 'outcomes[0].payment.prce'; did you mean 'price'?"),
    ("unknown payment kind", _set("outcomes.0.payment.kind", "ratecard"),
     "outcomes[0].payment.kind must be one of 'rate_card', 'schedule', 'savings_share', 'earnings_linked', got "
     "'ratecard'; did you mean 'rate_card'?"),
    ("unknown level", _set("payors.0.level", "county"),
     "payors[0].level = 'county' is not allowed; allowed values: 'federal', 'state', 'local', 'district'"),
    ("wrong direction word", _set("outcomes.0.direction", "up"),
     "outcomes[0].direction = 'up' is not allowed; allowed values: 'increase' or 'decrease'"),
    ("gross without baseline", _set("outcomes.0.payment.basis", "gross"), "needs the outcome's baseline"),
    ("missing cohorts", _set("cohorts", _DELETE), "key 'cohorts' is required"),
    ("zero students", _set("cohorts.0.students", 0), "cohorts[0].students: must be > 0"),
    ("spread not summing to 1", _set("outcomes.0.spread", [0.5, 0.4]), "spread [0.5, 0.4] must sum to 1"),
    ("unknown primary outcome", _set("contract.primary_outcome", "grd"),
     "contract.primary_outcome: unknown outcome 'grd' (did you mean 'grad'?)"),
    ("guarantee of an unknown tranche", _set("financing", {
        "tranches": [{"name": "loan", "kind": "senior_loan", "amount": 10.0}],
        "guarantees": [{"name": "g", "covers": "lone", "amount": 5.0}]}),
     "guarantees[0].covers = 'lone' is not a tranche"),
    ("two residual claimants", _set("financing", {"tranches": [
        {"name": "a", "kind": "senior_loan", "amount": 10.0}, {"name": "b", "kind": "equity", "amount": 5.0}]}),
     "at most one tranche can be uncapped"),
    ("uncapped tranche not last", _set("financing", {"tranches": [
        {"name": "a", "kind": "senior_loan", "amount": 10.0},
        {"name": "b", "kind": "junior_loan", "amount": 5.0, "return_cap": 0.05}]}), "must be repaid last"),
    ("per-outcome benefit for an unknown beneficiary", _set("benefits", {"streams": [
        {"outcome": "grad", "kind": "per_outcome", "value": 10.0, "split": {"county": 1.0}}]}),
     "split names unknown beneficiaries ['county']"),
    ("benefit stream on an unknown outcome", _set("benefits", {"streams": [{"outcome": "gard", "kind": "diploma"}]}),
     "benefits.streams[0].outcome: unknown outcome 'gard'"),
    ("negative cap", _set("caps", {"project": -1.0}), "caps.project: must be >= 0"),
    ("price beyond any budget", _set("outcomes.0.payment.price", 1e308),
     "outcomes[0].payment.price: must be <= 1e+15, got 1e+308"),
    ("price inf", _set("outcomes.0.payment.price", float("inf")),
     "outcomes[0].payment.price: must be a finite number, got inf"),
    ("price nan", _set("outcomes.0.payment.price", float("nan")),
     "outcomes[0].payment.price: must be a finite number, got nan"),
    ("price as text", _set("outcomes.0.payment.price", "25000"),
     "outcomes[0].payment.price: expected a number, got the text '25000' (remove the quotes)"),
    ("baseline inf", _set("outcomes.0.baseline", float("-inf")), "outcomes[0].baseline: must be a finite number"),
    ("students beyond bound", _set("cohorts.0.students", 1e12), "cohorts[0].students: must be <= 1e+09"),
    ("year as float", _set("cohorts.0.year", 1.0), "cohorts[0].year: expected a whole number, got 1.0 (write 1)"),
    ("switch as text", _set("outcomes.0.payment.require_significance", "true"),
     "outcomes[0].payment.require_significance: expected true or false, got the text 'true' (remove the quotes)"),
    ("empty draw years", _set("financing", {"tranches": [{"name": "a", "kind": "equity", "amount": 10.0,
                                                          "draw_years": []}]}),
     "financing.tranches[0]: draw_years is empty"),
    ("benefit value overflow", _set("benefits", {"streams": [
        {"outcome": "grad", "kind": "per_outcome", "value": -1e300, "split": {"state": 1.0}}]}),
     "benefits.streams[0].value: must be >= -1e+15, got -1e+300"),
]


@pytest.mark.parametrize(("case", "mod", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_contracts_give_one_clear_line(base_contract: dict[str, Any], case: str,
                                           mod: Callable[[dict[str, Any]], None], expected: str) -> None:
    mod(base_contract)
    with pytest.raises(SpecificationError) as info:
        load_contract(base_contract)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("contract (mapping): ")
    assert expected in msg, msg


def test_label_not_produced_by_the_estimate(base_contract: dict[str, Any]) -> None:
    est = ExternalEstimate(label="dropout", effect=-0.02, std_error=0.01)
    with pytest.raises(SpecificationError, match=r"outcomes\[0\]\.estimate: no estimate labelled 'graduated' in the "
                                                 r"results given \(available: dropout\)"):
        price_contract(base_contract, est, draws=1000)
    # mapping the label fixes it
    res = price_contract(base_contract, est, draws=1000, labels={"graduated": "dropout"})
    assert res.estimates[0]["label"] == "dropout"


def test_unknown_economic_parameter(base_contract: dict[str, Any]) -> None:
    base_contract["benefits"] = {"streams": [{"outcome": "grad", "kind": "diploma"}],
                                 "parameters": {"taxes.federal_rat": 0.1}}
    est = ExternalEstimate(label="graduated", effect=0.02, std_error=0.01)
    with pytest.raises(SpecificationError, match=r"benefits\.parameters\.taxes\.federal_rat: unknown economic "
                                                 r"parameter 'taxes\.federal_rat'; did you mean 'taxes\.federal_rate'"):
        price_contract(base_contract, est, draws=1000)


def test_toml_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[contract\nname = 'x'\n", encoding="utf-8")
    with pytest.raises(SpecificationError, match=r"contract 'bad\.toml' is not valid TOML"):
        load_contract(bad)
    with pytest.raises(SpecificationError, match="does not exist"):
        load_contract(tmp_path / "missing.toml")
    good = tmp_path / "good.toml"
    good.write_text(example_contract("schedule_rikers").read_text(encoding="utf-8").replace(
        "at = 0.085", "at = -0.085"), encoding="utf-8")
    with pytest.raises(SpecificationError, match=r"contract 'good.toml': outcomes\[0\]\.payment\.tiers\[0\]\.at"):
        load_contract(good)
