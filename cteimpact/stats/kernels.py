"""Kernels of local polynomial regression discontinuity fits, as rdrobust defines them.

A local polynomial fit at a cutoff ``c`` with bandwidth ``h`` weights each observation by ``K(u) / h`` with
``u = (x − c) / h`` (Calonico, Cattaneo & Titiunik 2014; rdrobust's ``rdrobust_kweight``), times its unit weight
when the design has weights. The kernels, zero outside ``|u| ≤ 1`` (the boundary ``|u| = 1`` is inside, as in
rdrobust)::

    triangular     K(u) = (1 − |u|)
    epanechnikov   K(u) = 0.75 (1 − u²)
    uniform        K(u) = 0.5

Names are rdrobust's: the full names and the abbreviations ``tri``, ``epa`` and ``uni``, in any case
(:func:`kernel_name`). rdrobust, whose default is the triangular kernel, refuses any other name, and so does this
module: an unknown name is an :class:`~cteimpact.errors.OptionError`, never a silent triangular kernel.

References
----------
Calonico, S., Cattaneo, M. D., & Titiunik, R. (2014). Robust nonparametric confidence intervals for
regression-discontinuity designs. *Econometrica*, 82(6), 2295–2326.
Calonico, S., Cattaneo, M. D., Farrell, M. H., & Titiunik, R. (2017). rdrobust: Software for regression-discontinuity
designs. *The Stata Journal*, 17(2), 372–404.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np

from cteimpact.errors import OptionError

__all__ = ["KERNELS", "Kernel", "bandwidth_weights", "kernel_name", "kernel_weights"]

Kernel = Literal["triangular", "epanechnikov", "uniform"]
KERNELS: tuple[Kernel, ...] = get_args(Kernel)
"""The kernels, rdrobust's default first."""
_ABBREVIATIONS: dict[str, Kernel] = {"tri": "triangular", "epa": "epanechnikov", "uni": "uniform"}


def kernel_name(kernel: str) -> Kernel:
    """The full name of a kernel given by rdrobust's name or abbreviation (``"tri"``, ``"epa"``, ``"uni"``), in
    any case.

    Raises
    ------
    OptionError
        ``kernel`` is not one of them.

    Examples
    --------
    >>> kernel_name("Epa"), kernel_name("triangular")
    ('epanechnikov', 'triangular')
    """
    key = kernel.lower() if isinstance(kernel, str) else None
    for name in KERNELS:
        if key == name:
            return name
    if key is not None and key in _ABBREVIATIONS:
        return _ABBREVIATIONS[key]
    raise OptionError(f"kernel {kernel!r} is not one of {', '.join(KERNELS)} (or rdrobust's abbreviations "
                      f"{', '.join(_ABBREVIATIONS)})")


def kernel_weights(u: Any, kernel: str) -> np.ndarray:
    """``K(u)`` at scaled distances ``u = (x − c) / h`` (without rdrobust's ``1 / h``); zero outside ``|u| ≤ 1``.

    Computed as rdrobust computes it, the kernel's formula times the indicator of ``|u| ≤ 1``, so the bits are
    rdrobust's: beyond ``|u| = 1`` the triangular and Epanechnikov kernels give a negative zero (``-0.0 == 0``).

    Parameters
    ----------
    u
        Scaled distances from the cutoff (array-like).
    kernel
        A kernel name (:func:`kernel_name`).

    Examples
    --------
    >>> kernel_weights([-0.5, 0.0, 1.0], "triangular").tolist()
    [0.5, 1.0, 0.0]
    >>> bool(kernel_weights([-1.5], "tri")[0] == 0)
    True
    >>> kernel_weights([0.5], "epanechnikov").tolist(), kernel_weights([0.5, 2.0], "uni").tolist()
    ([0.5625], [0.5, 0.0])
    """
    name = kernel_name(kernel)
    u = np.asarray(u, dtype=float)
    inside = np.abs(u) <= 1
    if name == "epanechnikov":
        return 0.75 * (1 - u**2) * inside
    if name == "uniform":
        return 0.5 * inside
    return (1 - np.abs(u)) * inside


def bandwidth_weights(x: Any, *, cutoff: float, bandwidth: float, kernel: str,
                      weights: np.ndarray | None = None) -> np.ndarray:
    """rdrobust's observation weights ``K((x − c) / h) / h``, times the unit ``weights`` when given.

    Parameters
    ----------
    x
        Running variable (array-like).
    cutoff, bandwidth
        ``c`` and ``h`` (``h > 0``).
    kernel
        A kernel name (:func:`kernel_name`).
    weights
        Unit weights multiplying the kernel (rdrobust's ``weights``), or ``None``.

    Raises
    ------
    OptionError
        An unknown kernel, or a bandwidth that is not a positive number.

    Examples
    --------
    >>> bandwidth_weights([0.0, 1.0, -2.0], cutoff=0.0, bandwidth=2.0, kernel="tri").tolist()
    [0.5, 0.25, 0.0]
    """
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, int | float | np.floating | np.integer) \
            or not bandwidth > 0:
        raise OptionError(f"bandwidth must be a positive number, got {bandwidth!r}")
    w = kernel_weights((np.asarray(x, dtype=float) - cutoff) / bandwidth, kernel) / bandwidth
    if weights is not None:
        w = w * weights
    return w
