"""cteimpact's TOML files: one reader (byte-order mark, encodings, syntax errors), strict types and one translator of
validation errors, shared by specifications, contracts and the economic defaults."""

from __future__ import annotations

import codecs
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pytest
from pydantic import Field

from cteimpact.config import ConfigModel, describe_input, parse_toml, read_toml, validate
from cteimpact.errors import SpecificationError
from cteimpact.pipeline.spec import load_spec, parse_spec
from cteimpact.pricing import example_contract, load_contract, load_economic_defaults
from cteimpact.pricing.defaults import EconomicParameters

REPO = Path(__file__).resolve().parents[2]


# --- reading ------------------------------------------------------------------------------------------------------

def test_byte_order_mark_is_ignored() -> None:
    text = 'a = 1\nb = "x"\n'
    assert parse_toml(codecs.BOM_UTF8 + text.encode(), source="t") == {"a": 1, "b": "x"}
    assert parse_toml("\ufeff" + text, source="t") == {"a": 1, "b": "x"}


@pytest.mark.parametrize(("content", "words"), [
    ('a = 1\nb = "caf\xe9"\n'.encode("latin-1"), ["'f.toml' is not UTF-8 text", "byte 0xe9 at line 2, column 9",
                                                   "save the file as UTF-8"]),
    ("a = 1\n".encode("utf-16"), ["'f.toml' is UTF-16 text; save it as UTF-8"]),
    (b"a = 1\n[b\nc = 2\n", ["'f.toml' is not valid TOML", "(at line 2, column 3)"]),
    (b"a = 1\na = 2\n", ["'f.toml' is not valid TOML", "Cannot overwrite a value"]),
])
def test_unreadable_files_give_one_line(content: bytes, words: list[str]) -> None:
    with pytest.raises(SpecificationError) as info:
        parse_toml(content, source="contract 'f.toml'")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("contract 'f.toml'")
    for w in words:
        assert w in msg


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(SpecificationError, match=r"contract file '.*nope\.toml' does not exist"):
        read_toml(tmp_path / "nope.toml", what="contract")
    with pytest.raises(SpecificationError, match=r"contract '.*' is a folder; give the TOML file"):
        read_toml(tmp_path, what="contract")


def test_bom_accepted_by_specification_contract_and_defaults(tmp_path: Path) -> None:
    """The three loaders go through the same reader: a byte-order mark changes nothing."""
    for sub in ("contracts",):
        (tmp_path / sub).mkdir()
        for p in (REPO / "analyses" / sub).glob("*.toml"):
            (tmp_path / sub / p.name).write_bytes(codecs.BOM_UTF8 + p.read_bytes())
    spec = REPO / "analyses" / "ccpt-dropout-rd.toml"
    (tmp_path / spec.name).write_bytes(codecs.BOM_UTF8 + spec.read_bytes())
    assert load_spec(tmp_path / spec.name) == load_spec(spec)
    contract = tmp_path / "contracts" / "ccpt-dropout-rate-card.toml"
    assert load_contract(contract) == load_contract(REPO / "analyses" / "contracts" / contract.name)
    shipped = resources.files("cteimpact.pricing").joinpath("defaults/economics.toml").read_bytes()
    (tmp_path / "economics.toml").write_bytes(codecs.BOM_UTF8 + shipped)
    assert load_economic_defaults(tmp_path / "economics.toml") == load_economic_defaults()


# --- strict types -------------------------------------------------------------------------------------------------

class _Inner(ConfigModel):
    kind: Literal["alpha", "beta"] = "alpha"
    weight: Annotated[float, Field(ge=0)] = 1.0


class _Model(ConfigModel):
    seed: int
    rate: float = 0.5
    enabled: bool = True
    names: list[str] = Field(default_factory=list)
    bandwidth: float | list[float] | None = None
    inner: _Inner = _Inner()


@pytest.mark.parametrize(("data", "expected"), [
    ({"seed": "123"}, "seed: expected a whole number, got the text '123' (remove the quotes)"),
    ({"seed": 2.0}, "seed: expected a whole number, got 2.0 (write 2)"),
    ({"seed": 2.5}, "seed: expected a whole number, got 2.5"),
    ({"seed": True}, "seed: expected a whole number, got true"),
    ({"seed": 1, "rate": "0.5"}, "rate: expected a number, got the text '0.5' (remove the quotes)"),
    ({"seed": 1, "rate": float("inf")}, "rate: must be a finite number, got inf"),
    ({"seed": 1, "rate": float("nan")}, "rate: must be a finite number, got nan"),
    ({"seed": 1, "enabled": "true"}, "enabled: expected true or false, got the text 'true' (remove the quotes)"),
    ({"seed": 1, "enabled": 1}, "enabled: expected true or false, got 1"),
    ({"seed": 1, "names": "a"}, 'names: expected a list, got the text \'a\' (write ["a"] for a list of one)'),
    ({"seed": 1, "bandwidth": "x"}, "bandwidth: expected a number or a list, got the text 'x'"),
    ({"seed": 1, "inner": {"kind": "alfa"}},
     "inner.kind = 'alfa' is not allowed; allowed values: 'alpha' or 'beta'; did you mean 'alpha'?"),
    ({"seed": 1, "inner": {"weight": -1}}, "inner.weight: must be >= 0, got -1"),
    ({"seed": 1, "inner": {"wieght": 1.0}}, "unknown key 'inner.wieght'; did you mean 'weight'?"),
    ({"seed": 1, "inner": {"zzz": 1.0}}, "unknown key 'inner.zzz'; allowed keys: kind, weight"),
    ({}, "key 'seed' is required"),
    ({"sed": 1}, "unknown key 'sed'; did you mean 'seed'? (and 1 more problem)"),
])
def test_strict_values_and_messages(data: dict[str, object], expected: str) -> None:
    with pytest.raises(SpecificationError) as info:
        validate(_Model, data, source="test file")
    assert str(info.value) == f"test file: {expected}"


def test_float_accepts_whole_numbers_and_python_containers() -> None:
    m = validate(_Model, {"seed": np.int64(4), "rate": 2, "names": ("a", "b"), "bandwidth": (1, 2.5)}, source="x")
    assert m.seed == 4 and isinstance(m.seed, int)
    assert m.rate == 2.0 and isinstance(m.rate, float)
    assert m.names == ["a", "b"] and m.bandwidth == [1.0, 2.5]


def test_describe_input_hints() -> None:
    assert describe_input("12", "a whole number") == "expected a whole number, got the text '12' (remove the quotes)"
    assert describe_input("abc", "a number") == "expected a number, got the text 'abc'"
    assert describe_input(True, "a number") == "expected a number, got true (write a number)"


# --- the specification and the contract share the translator --------------------------------------------------

def test_specification_and_contract_speak_the_same_way(base_contract_text: str) -> None:
    spec = {"study": {"name": "s", "title": "t", "seed": "1"}, "data": {"path": "d.csv", "columns": {}},
            "design": {"type": "rd", "outcomes": ["y"], "running": "x", "cutoff": 0}}
    with pytest.raises(SpecificationError, match=r"^analysis specification: study\.seed: expected a whole number, "
                                                 r"got the text '1' \(remove the quotes\)$"):
        parse_spec(spec)
    with pytest.raises(SpecificationError, match=r"^contract \(mapping\): cohorts\[0\]\.students: expected a number, "
                                                 r"got the text '750' \(remove the quotes\)$"):
        load_contract({**parse_toml(base_contract_text, source="x"),
                       "cohorts": [{"name": "c", "students": "750"}]})


@pytest.fixture
def base_contract_text() -> str:
    return example_contract("schedule_rikers").read_text(encoding="utf-8")


def test_economic_override_given_as_text(base_contract_text: str) -> None:
    from cteimpact.pricing import price_contract
    from cteimpact.results import ExternalEstimate

    data = parse_toml(base_contract_text, source="x")
    data["benefits"]["parameters"] = {"taxes.federal_rate": "0.15"}
    with pytest.raises(SpecificationError, match=r"benefits\.parameters\.taxes\.federal_rate: expected a number or a "
                                                 r"list, got the text '0\.15' \(remove the quotes\)"):
        price_contract(data, ExternalEstimate(label="dropout", effect=-0.02, std_error=0.01), draws=1000)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("value = 0.03\n", 'value = "0.03"\n', "discount_rate.value: expected a number, got the text '0.03'"),
    ("value = 0.03\n", "value = nan\n", "discount_rate.value: must be a finite number, got nan"),
    ("dollar_year = 2023\n", 'dollar_year = "2023"\n', "dollar_year: expected a whole number, got the text '2023'"),
])
def test_economic_defaults_file_values_are_checked(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = resources.files("cteimpact.pricing").joinpath("defaults/economics.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "economics.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SpecificationError) as info:
        load_economic_defaults(path)
    assert str(info.value).startswith("economic defaults 'economics.toml': ")
    assert expected in str(info.value)
    assert isinstance(load_economic_defaults(), EconomicParameters)
