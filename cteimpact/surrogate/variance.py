"""The variance of a surrogate-index effect: the product of two independent estimates.

Whatever the design, the long-run effect is ``τ̂ = β̂'d̂``: ``β̂`` are the index's coefficients, estimated in the
observational sample with covariance ``Σ_β``; ``d̂`` are the design's effects on the index's regressors, estimated in
the experimental sample with covariance ``Σ_d``. The two samples are independent, so (Goodman 1960, exact for
unbiased, independent ``β̂`` and ``d̂``)::

    Var(β̂'d̂) = β'Σ_d β  +  d'Σ_β d  +  tr(Σ_β Σ_d)
               experimental  model       product

The first term is the variance of the effect if the index were known; the second the uncertainty of the index
carried into the effect; the third, of second order (a product of two ``1/n`` terms), is what the first-order delta
method leaves out. It is estimated with ``β̂``, ``d̂`` and the estimated covariances plugged in. ``variance="exact"``
(default) keeps the product term, ``"first_order"`` drops it (the delta method). The unbiased estimator of the
variance would *subtract* the product term instead, because the plug-in squares ``β̂β̂'`` and ``d̂d̂'`` are each biased
upwards by their covariance; keeping it errs on the side of wider intervals, by a second-order amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from cteimpact.errors import OptionError

__all__ = ["VARIANCE_METHODS", "VarianceMethod", "VarianceParts", "check_variance_method", "product_variance"]

VarianceMethod = Literal["exact", "first_order"]
"""``exact``: experimental + model + product terms; ``first_order``: the delta method, without the product term."""
VARIANCE_METHODS: tuple[str, ...] = ("exact", "first_order")


@dataclass(frozen=True)
class VarianceParts:
    """The three terms of the variance of ``β̂'d̂`` (see the module docstring).

    Attributes
    ----------
    experimental
        ``β'Σ_d β``: sampling variance of the design's effects, with the index held fixed.
    model
        ``d'Σ_β d``: uncertainty of the index's coefficients.
    product
        ``tr(Σ_β Σ_d)``: the second-order term.
    method
        Which terms :attr:`total` adds.
    """

    experimental: float
    model: float
    product: float
    method: VarianceMethod

    @property
    def total(self) -> float:
        """The variance used: all three terms (``exact``) or the first two (``first_order``)."""
        return self.experimental + self.model + (self.product if self.method == "exact" else 0.0)

    @property
    def model_share(self) -> float:
        """Share of :attr:`total` due to estimating the index (model and product terms)."""
        extra = self.model + (self.product if self.method == "exact" else 0.0)
        return extra / self.total if self.total > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """The terms, the method and the total, as plain data."""
        return {"experimental": self.experimental, "model": self.model, "product": self.product,
                "method": self.method, "total": self.total}


def check_variance_method(method: object) -> VarianceMethod:
    """``method`` if it is one of :data:`VARIANCE_METHODS`; :class:`~cteimpact.errors.OptionError` otherwise."""
    if method == "exact":
        return "exact"
    if method == "first_order":
        return "first_order"
    raise OptionError(f"variance must be one of {', '.join(VARIANCE_METHODS)}, got {method!r}")


def product_variance(beta: np.ndarray, cov_beta: np.ndarray, d: np.ndarray, cov_d: np.ndarray, *,
                     method: VarianceMethod) -> VarianceParts:
    """The variance terms of ``β̂'d̂`` for independent ``β̂`` (covariance ``cov_beta``) and ``d̂`` (``cov_d``)."""
    experimental = float(beta @ cov_d @ beta)
    model = float(d @ cov_beta @ d)
    product = float(np.sum(cov_beta * cov_d.T))  # tr(Σ_β Σ_d)
    return VarianceParts(experimental, model, product, method)
