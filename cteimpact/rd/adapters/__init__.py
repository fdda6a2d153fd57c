"""Thin adapters over the RD reference packages (rdrobust, rddensity, rdpower, rdlocrand).

Each adapter passes numpy arrays in, captures what the package prints, re-issues its warnings as cteimpact warning
classes, translates its bare exceptions into typed cteimpact errors, and returns frozen dataclasses of plain
numbers. Version ranges are declared in ``pyproject.toml``; golden-number tests in ``tests/rd`` detect behaviour
changes.
"""

from cteimpact.rd.adapters._capture import MassPointsWarning, ReferencePackageWarning
from cteimpact.rd.adapters.rddensity import DensityTest, density_test
from cteimpact.rd.adapters.rdlocrand import ReferenceRandomization, reference_randomization
from cteimpact.rd.adapters.rdpower import MdeCalculation, PowerCalculation, mde_calculation, power_calculation
from cteimpact.rd.adapters.rdrobust import (
    BandwidthSelection,
    FirstStage,
    LocalPolynomialFit,
    fit_rdrobust,
    select_bandwidths,
)

__all__ = [
    "BandwidthSelection",
    "DensityTest",
    "FirstStage",
    "LocalPolynomialFit",
    "MassPointsWarning",
    "MdeCalculation",
    "PowerCalculation",
    "ReferencePackageWarning",
    "ReferenceRandomization",
    "density_test",
    "fit_rdrobust",
    "mde_calculation",
    "power_calculation",
    "reference_randomization",
    "select_bandwidths",
]
