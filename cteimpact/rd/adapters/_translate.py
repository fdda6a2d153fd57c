"""What the RD adapters share besides the call itself (:mod:`cteimpact.rd.adapters._capture`): the installed version
of a reference package, the optional data arrays passed in under the packages' names, and the package's output
read back as plain Python values.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["data_arguments", "first_value", "package_version", "plain_fields"]


def package_version(package: str) -> str:
    """The installed version of ``package`` (from its metadata)."""
    from importlib.metadata import version

    return version(package)


def data_arguments(*, fuzzy: np.ndarray | None = None, covariates: np.ndarray | None = None,
                   cluster: np.ndarray | None = None, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The optional data arrays of an rdrobust-family call, as numpy arrays under the packages' keyword names
    (``fuzzy``, ``covs`` as a 2-D float array, ``cluster`` as given, ``weights``); the arrays not given are left out
    (the packages' own defaults apply)."""
    kwargs: dict[str, np.ndarray] = {}
    if fuzzy is not None:
        kwargs["fuzzy"] = np.asarray(fuzzy, dtype=float)
    if covariates is not None:
        cov = np.asarray(covariates, dtype=float)
        kwargs["covs"] = cov.reshape(len(cov), -1)
    if cluster is not None:
        kwargs["cluster"] = np.asarray(cluster)
    if weights is not None:
        kwargs["weights"] = np.asarray(weights, dtype=float)
    return kwargs


def first_value(values: Any, index: int = 0) -> float:
    """Element ``index`` of a package's output (a number, array, series or frame, flattened) as a float."""
    return float(np.asarray(values, dtype=float).reshape(-1)[index])


def _plain(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def plain_fields(result: Any, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of an adapter's result dataclass in declaration order, as plain data (tuples and arrays as lists,
    nested results through their ``to_dict``), except those named in ``skip``."""
    return {f.name: _plain(getattr(result, f.name)) for f in dataclasses.fields(result) if f.name not in skip}
