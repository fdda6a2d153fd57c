"""Pay-for-Success outcome pricing driven by estimated impacts and their uncertainty.

Load a contract (TOML file or mapping), price it on any estimate that honours the results contract, and read the
payments, investor returns and benefit–cost results::

    from cteimpact.pricing import load_contract, price_contract
    from cteimpact.results import ExternalEstimate

    contract = load_contract("contract.toml")
    res = price_contract(contract, ExternalEstimate(label="dropout", effect=-0.02, std_error=0.008),
                         draws=200_000, seed=1)
    print(res.summary())

Modules: :mod:`~cteimpact.pricing.contract` (the specification), :mod:`~cteimpact.pricing.engine` (impacts to
payments), :mod:`~cteimpact.pricing.finance` (NPV, IRR, waterfall), :mod:`~cteimpact.pricing.benefits` and
:mod:`~cteimpact.pricing.defaults` (benefit–cost analysis and its documented parameters),
:mod:`~cteimpact.pricing.montecarlo` (:func:`price_contract`), :mod:`~cteimpact.pricing.results` and
:mod:`~cteimpact.pricing.plots`. Example contracts modelled on real deals ship in ``cteimpact/pricing/examples``
(:func:`example_contract`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from cteimpact.errors import OptionError
from cteimpact.pricing.contract import BENEFICIARIES, PAYOR_LEVELS, Contract, load_contract
from cteimpact.pricing.defaults import EconomicParameters, Parameter, load_economic_defaults
from cteimpact.pricing.finance import annuity_factor, irr, irr_solution, moic, npv
from cteimpact.pricing.montecarlo import DEFAULT_DRAWS, DEFAULT_SEED, MIN_DRAWS, check_draws_memory, price_contract
from cteimpact.pricing.power import minimum_detectable_effect
from cteimpact.pricing.results import PRICING_SCHEMA, PRICING_TIDY_COLUMNS, PricingResults

__all__ = [
    "BENEFICIARIES",
    "DEFAULT_DRAWS",
    "DEFAULT_SEED",
    "MIN_DRAWS",
    "PAYOR_LEVELS",
    "PRICING_SCHEMA",
    "PRICING_TIDY_COLUMNS",
    "Contract",
    "EconomicParameters",
    "Parameter",
    "PricingResults",
    "annuity_factor",
    "check_draws_memory",
    "example_contract",
    "example_names",
    "irr",
    "irr_solution",
    "load_contract",
    "load_economic_defaults",
    "minimum_detectable_effect",
    "moic",
    "npv",
    "price_contract",
]


def example_names() -> tuple[str, ...]:
    """Names of the shipped example contracts."""
    folder = resources.files("cteimpact.pricing").joinpath("examples")
    return tuple(sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")))


def example_contract(name: str) -> Path:
    """Path of a shipped example contract (see :func:`example_names`)."""
    names = example_names()
    if name not in names:
        raise OptionError(f"no example contract '{name}'; examples: {', '.join(names)}")
    return Path(str(resources.files("cteimpact.pricing").joinpath(f"examples/{name}.toml")))
