"""The documented economic defaults of the benefit–cost analysis (``defaults/economics.toml``) and their overrides.

Each parameter has a dotted name (``"taxes.federal_rate"``), a value, a unit, the dollar year of monetary values
and the source of the value. A contract overrides any of them in its ``[benefits.parameters]`` table; an override
of a monetary value is taken in the contract's dollar year. Values are TOML numbers (never text), finite and at most
:data:`~cteimpact.pricing.contract.MAX_AMOUNT` in magnitude, in the defaults file and in overrides alike.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from cteimpact.config.toml import describe_input, parse_toml, read_toml
from cteimpact.errors import SpecificationError

__all__ = ["EconomicParameters", "Parameter", "load_economic_defaults"]

DEFAULTS_SCHEMA = "cteimpact.pricing.economics/1"


@dataclass(frozen=True)
class Parameter:
    """One economic parameter with its provenance."""

    name: str
    value: float | tuple[float, ...]
    unit: str
    source: str
    dollar_year: int | None = None
    overridden: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": list(self.value) if isinstance(self.value, tuple) else self.value,
                "unit": self.unit, "dollar_year": self.dollar_year, "source": self.source,
                "overridden": self.overridden}


@dataclass(frozen=True)
class EconomicParameters:
    """The economic parameters in force for one analysis, in ``dollar_year`` dollars."""

    parameters: Mapping[str, Parameter]
    dollar_year: int
    cpi: Mapping[int, float] = field(default_factory=dict)
    cpi_source: str = ""

    def __getitem__(self, name: str) -> float:
        p = self._get(name)
        if isinstance(p.value, tuple):
            raise SpecificationError(f"economic parameter '{name}' is a list; use .values('{name}')")
        return self.adjust(p.value, p.dollar_year)

    def values(self, name: str) -> tuple[float, ...]:
        p = self._get(name)
        return p.value if isinstance(p.value, tuple) else (p.value,)

    def __iter__(self) -> Iterator[str]:
        return iter(self.parameters)

    def _get(self, name: str) -> Parameter:
        try:
            return self.parameters[name]
        except KeyError:
            raise SpecificationError(_unknown(name, self.parameters)) from None

    def adjust(self, value: float, from_year: int | None) -> float:
        """``value`` in ``from_year`` dollars expressed in this analysis' dollar year (CPI-U)."""
        if from_year is None or from_year == self.dollar_year:
            return float(value)
        for year in (from_year, self.dollar_year):
            if year not in self.cpi:
                raise SpecificationError(
                    f"no CPI-U value for {year} to convert dollars between {from_year} and {self.dollar_year}; "
                    f"available years: {', '.join(str(y) for y in sorted(self.cpi))} (set the contract's "
                    "dollar_year to one of them)"
                )
        return float(value) * self.cpi[self.dollar_year] / self.cpi[from_year]

    def with_overrides(self, overrides: Mapping[str, Any], *, where: str = "benefits.parameters") -> (
            EconomicParameters):
        """A copy with ``overrides`` (dotted names) applied; monetary overrides are in this dollar year."""
        params = dict(self.parameters)
        for name, value in overrides.items():
            if name not in params:
                raise SpecificationError(f"{where}.{name}: {_unknown(name, params)}")
            old = params[name]
            new_value: float | tuple[float, ...]
            new_value = _number_or_list(value, f"{where}.{name}", listed=isinstance(old.value, tuple))
            _check_range(name, new_value, where)
            params[name] = replace(old, value=new_value, overridden=True,
                                   dollar_year=self.dollar_year if old.dollar_year is not None else None,
                                   source=f"contract override (default {old.value!r}: {old.source})")
        return replace(self, parameters=params)

    def in_dollar_year(self, year: int) -> EconomicParameters:
        """The same parameters, monetary values expressed in ``year`` dollars when read."""
        if year != self.dollar_year and year not in self.cpi:
            raise SpecificationError(
                f"contract.dollar_year = {year} has no CPI-U value; available years: "
                f"{', '.join(str(y) for y in sorted(self.cpi))}"
            )
        return replace(self, dollar_year=year)

    def to_dict(self) -> dict[str, Any]:
        return {"dollar_year": self.dollar_year,
                "parameters": {k: p.to_dict() for k, p in self.parameters.items()},
                "cpi_u": {str(k): v for k, v in sorted(self.cpi.items())}, "cpi_source": self.cpi_source}


_MAX_VALUE = 1e15
"""Largest magnitude of a parameter value (as :data:`cteimpact.pricing.contract.MAX_AMOUNT`)."""


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecificationError(f"{where}: {describe_input(value, 'a number')}")
    if not math.isfinite(float(value)):
        raise SpecificationError(f"{where}: must be a finite number, got {value!r}")
    if abs(float(value)) > _MAX_VALUE:
        raise SpecificationError(f"{where}: must lie between -{_MAX_VALUE:g} and {_MAX_VALUE:g}, got {value!r}")
    return float(value)


def _number_or_list(value: Any, where: str, *, listed: bool) -> float | tuple[float, ...]:
    """A number (or, with ``listed``, a list of numbers) of a parameter, checked: no text, no inf or nan."""
    if listed:
        if not isinstance(value, list | tuple) or not value:
            raise SpecificationError(f"{where}: {describe_input(value, 'a list of numbers')}")
        return tuple(_number(v, f"{where}[{i}]") for i, v in enumerate(value))
    return _number(value, where)


def _unknown(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown economic parameter '{name}'{hint} (known: {', '.join(sorted(known))})"


_RATES_0_1 = ("taxes.", "transfers.", "earnings.causal_fraction", "dropout.health_federal_share",
              "dropout.crime_state_share", "dropout.welfare_federal_share")


def _check_range(name: str, value: float | tuple[float, ...], where: str) -> None:
    vals = value if isinstance(value, tuple) else (value,)
    for v in vals:
        if name.startswith(_RATES_0_1) and not 0.0 <= v <= 1.0:
            raise SpecificationError(f"{where}.{name}: must lie between 0 and 1, got {v}")
        if "discount_rate" in name and not -0.5 < v < 1.0:
            raise SpecificationError(f"{where}.{name}: a real discount rate must lie in (-0.5, 1), got {v}")
        if name.endswith(("_years", "horizon_years")) and (v < 0 or v != int(v) or v > 100):
            raise SpecificationError(f"{where}.{name}: must be a whole number of years from 0 to 100, got {v}")


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key, val in table.items():
        if not isinstance(val, Mapping):
            continue
        name = f"{prefix}{key}"
        if "value" in val:
            yield name, val
        else:
            yield from _flatten(val, f"{name}.")


def load_economic_defaults(path: str | Path | None = None) -> EconomicParameters:
    """The defaults shipped in ``cteimpact/pricing/defaults/economics.toml``, or a file of the same layout.

    Raises
    ------
    SpecificationError
        The file is not valid TOML or a parameter lacks its value or source, or has a value that is not a finite
        number (one line naming the parameter).
    """
    if path is None:
        raw = resources.files("cteimpact.pricing").joinpath("defaults/economics.toml").read_bytes()
        data = parse_toml(raw, source="economic defaults 'economics.toml'")
    else:
        data = read_toml(path, what="economic defaults")
    source = f"economic defaults '{Path(path).name if path is not None else 'economics.toml'}'"
    if data.get("schema") != DEFAULTS_SCHEMA:
        raise SpecificationError(f"{source}: schema is {data.get('schema')!r}, expected {DEFAULTS_SCHEMA!r}")
    dollar_year = data.get("dollar_year")
    if isinstance(dollar_year, bool) or not isinstance(dollar_year, int):
        raise SpecificationError(f"{source}: dollar_year: {describe_input(dollar_year, 'a whole number')}")
    cpi_table = data.get("cpi_u", {})
    cpi: dict[int, float] = {}
    for k, v in cpi_table.get("values", {}).items():
        if not str(k).isdigit():
            raise SpecificationError(f"{source}: cpi_u.values: the key '{k}' is not a year")
        cpi[int(k)] = _number(v, f"{source}: cpi_u.values.{k}")
    params: dict[str, Parameter] = {}
    for name, spec in _flatten({k: v for k, v in data.items() if k != "cpi_u"}):
        where = f"{source}: {name}"
        for key in ("source",):
            if not isinstance(spec.get(key), str):
                raise SpecificationError(f"{where}.{key}: {describe_input(spec.get(key), 'text (in quotes)')}")
        raw_value = spec["value"]
        value = _number_or_list(raw_value, f"{where}.value", listed=isinstance(raw_value, list))
        year = spec.get("dollar_year")
        if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
            raise SpecificationError(f"{where}.dollar_year: {describe_input(year, 'a whole number')}")
        params[name] = Parameter(name, value, str(spec.get("unit", "")), str(spec["source"]), year)
    return EconomicParameters(params, dollar_year, cpi, str(cpi_table.get("source", "")))
